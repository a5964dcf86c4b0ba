# kube-router's NetworkPolicy controller as the kind_cluster role runs it (templates/kube-router.yaml.j2, a
# DaemonSet on every node): the binary and the iptables and ipset tools it calls.
ARG BASE
FROM ${BASE}
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends iptables ipset \
 && rm -rf /var/lib/apt/lists/*
COPY kube-router /usr/local/bin/kube-router
ENTRYPOINT ["/usr/local/bin/kube-router"]
