# kube-proxy as kubeadm runs it (a DaemonSet of <imageRepository>/kube-proxy): the binary and the iptables tools
# it calls.
ARG BASE
FROM ${BASE}
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends iptables nftables conntrack \
 && rm -rf /var/lib/apt/lists/*
COPY kube-proxy /usr/local/bin/kube-proxy
