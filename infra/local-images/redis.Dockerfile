# Stand-in for redis:7.4-alpine, from Debian's redis-server (7.0): the commands our compose file
# runs (`redis-server ...`, `redis-cli ping`). Built by infra/local-images/build.sh.
ARG BASE=flightpath-local/debian:bookworm
FROM ${BASE}
RUN apt-get -o Acquire::Retries=3 update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends redis-server \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /data && chown redis:redis /data
WORKDIR /data
USER redis
EXPOSE 6379
CMD ["redis-server", "--protected-mode", "no"]
