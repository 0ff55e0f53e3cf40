# Stand-in for postgres:17-alpine, from Debian's PostgreSQL 15, with the behaviour our compose file
# relies on (postgres-entrypoint.sh): POSTGRES_USER/PASSWORD/DB on first start, the scripts in
# /docker-entrypoint-initdb.d run once against a server that listens on the unix socket only, then
# the server on all addresses with password authentication; started as root (compose) it drops to
# `postgres`, started as that user (the Kubernetes pod's runAsUser) it runs as is. The user is uid/gid
# 70 as in the alpine image, so one pod spec fits both. Built by infra/local-images/build.sh.
ARG BASE=flightpath-local/debian:bookworm
FROM ${BASE}
RUN groupadd --system --gid 70 postgres \
 && useradd --system --uid 70 --gid 70 --home-dir /var/lib/postgresql --shell /bin/sh postgres \
 && apt-get -o Acquire::Retries=3 update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql-15 \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /var/lib/postgresql/data /var/run/postgresql /docker-entrypoint-initdb.d \
 && chown -R postgres:postgres /var/lib/postgresql /var/run/postgresql
COPY postgres-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
ENV PATH=/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PGDATA=/var/lib/postgresql/data
EXPOSE 5432
ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]
CMD ["postgres"]
