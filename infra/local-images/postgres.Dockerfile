# Stand-in for postgres:17-alpine, from Debian's PostgreSQL 15, with the behaviour our compose file
# relies on (postgres-entrypoint.sh): POSTGRES_USER/PASSWORD/DB on first start, the scripts in
# /docker-entrypoint-initdb.d run once against a server that listens on the unix socket only, then
# the server on all addresses with password authentication. Built by infra/local-images/build.sh.
ARG BASE=flightpath-local/debian:bookworm
FROM ${BASE}
RUN apt-get -o Acquire::Retries=3 update \
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
