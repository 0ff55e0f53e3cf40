# Stand-in for python:3.11-slim, from Debian's python3 (3.11): a venv first on PATH, so `python` and
# `pip` behave as in the official image. Built by infra/local-images/build.sh; never pushed.
ARG BASE=flightpath-local/debian:bookworm
FROM ${BASE}
# The machine's CA bundle (build.sh copies it into the context; it is never committed): https clients
# in the image must trust what the host trusts (a TLS-intercepting proxy, a corporate CA).
COPY ca-certificates.crt /etc/ssl/certs/host-ca-bundle.crt
RUN apt-get -o Acquire::Retries=3 update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 python3-venv ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && python3 -m venv /usr/local/python
ENV PATH=/usr/local/python/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    SSL_CERT_FILE=/etc/ssl/certs/host-ca-bundle.crt \
    PIP_CERT=/etc/ssl/certs/host-ca-bundle.crt \
    REQUESTS_CA_BUNDLE=/etc/ssl/certs/host-ca-bundle.crt \
    LANG=C.UTF-8
CMD ["python3"]
