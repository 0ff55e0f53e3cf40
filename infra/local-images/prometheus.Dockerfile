# Stand-in for prom/prometheus, from Debian's prometheus (2.42; the official image is 3.x): the
# flags our compose file passes, and wget for its health check. Built by infra/local-images/build.sh.
ARG BASE=flightpath-local/debian:bookworm
FROM ${BASE}
RUN apt-get -o Acquire::Retries=3 update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends prometheus wget \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /prometheus && chown prometheus:prometheus /prometheus
USER prometheus
EXPOSE 9090
ENTRYPOINT ["/usr/bin/prometheus"]
CMD ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus"]
