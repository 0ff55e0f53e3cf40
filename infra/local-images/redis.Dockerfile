# Stand-in for redis:7.4-alpine, from Debian's redis-server (7.0): the commands our compose file
# runs (`redis-server ...`, `redis-cli ping`). Like the official image's entrypoint, arguments alone
# (`--save ""`, as the Kubernetes pod gives them) are redis-server's, and a server started without a
# config file gets `--protected-mode no` (protected mode refuses every client that is not on
# loopback, i.e. every other container). Built by infra/local-images/build.sh.
ARG BASE=flightpath-local/debian:bookworm
FROM ${BASE}
RUN apt-get -o Acquire::Retries=3 update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends redis-server \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /data && chown redis:redis /data \
 && printf '#!/bin/sh\nset -e\nif [ "${1#-}" != "$1" ]; then set -- redis-server "$@"; fi\nif [ "$1" = redis-server ] && [ "${2#-}" != "$2" -o -z "${2:-}" ]; then shift; set -- redis-server "$@" --protected-mode no; fi\nexec "$@"\n' \
      > /usr/local/bin/docker-entrypoint.sh \
 && chmod +x /usr/local/bin/docker-entrypoint.sh
WORKDIR /data
USER redis
EXPOSE 6379
ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]
CMD ["redis-server"]
