# shellcheck shell=bash
# One CA signs everything: serving certs, client certs and the service-account key pair.
# Kubeconfigs embed the certificates so that they can be copied around as single files.

PKI_DIR() { echo "$STATE_DIR/pki"; }

# issue_cert NAME SUBJECT EXTENDED_KEY_USAGE [SUBJECT_ALT_NAMES]
issue_cert() {
  local name="$1" subject="$2" usage="$3" sans="${4:-}" pki; pki=$(PKI_DIR)
  [ -f "$pki/$name.crt" ] && return
  local ext="$pki/$name.ext"
  {
    echo "basicConstraints=CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=$usage"
    [ -n "$sans" ] && echo "subjectAltName=$sans"
  } > "$ext"
  openssl req -new -newkey rsa:2048 -nodes -subj "$subject" \
    -keyout "$pki/$name.key" -out "$pki/$name.csr" 2>/dev/null
  openssl x509 -req -in "$pki/$name.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial \
    -days 3650 -sha256 -extfile "$ext" -out "$pki/$name.crt" 2>/dev/null
  rm -f "$pki/$name.csr" "$pki/$name.ext"
  chmod 600 "$pki/$name.key"
}

# write_kubeconfig FILE CERT_NAME — a kubeconfig for the client certificate CERT_NAME.
write_kubeconfig() {
  local file="$1" cert="$2" pki; pki=$(PKI_DIR)
  [ -f "$file" ] && return
  local ca crt key
  ca=$(base64 -w0 < "$pki/ca.crt"); crt=$(base64 -w0 < "$pki/$cert.crt"); key=$(base64 -w0 < "$pki/$cert.key")
  (umask 077; cat > "$file") <<KUBECONFIG
apiVersion: v1
kind: Config
clusters:
- name: $CLUSTER_NAME
  cluster:
    server: https://$NODE_IP:6443
    certificate-authority-data: $ca
users:
- name: $cert
  user:
    client-certificate-data: $crt
    client-key-data: $key
contexts:
- name: $CLUSTER_NAME
  context: {cluster: $CLUSTER_NAME, user: $cert}
current-context: $CLUSTER_NAME
KUBECONFIG
}

ensure_pki() {
  local pki; pki=$(PKI_DIR)
  mkdir -p "$pki"
  if [ ! -f "$pki/ca.crt" ]; then
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -sha256 -subj "/CN=mlkube-local-ca" \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
      -keyout "$pki/ca.key" -out "$pki/ca.crt" 2>/dev/null
    chmod 600 "$pki/ca.key"
  fi
  issue_cert apiserver "/CN=kube-apiserver" serverAuth \
    "DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,DNS:localhost,IP:127.0.0.1,IP:$SERVICE_API_IP,IP:$NODE_IP"
  issue_cert apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client" clientAuth
  issue_cert admin "/O=system:masters/CN=kubernetes-admin" clientAuth
  issue_cert controller-manager "/CN=system:kube-controller-manager" clientAuth
  issue_cert scheduler "/CN=system:kube-scheduler" clientAuth
  issue_cert kube-proxy "/CN=system:kube-proxy" clientAuth
  issue_cert kubelet "/O=system:nodes/CN=system:node:$NODE_NAME" clientAuth
  issue_cert front-proxy-client "/CN=front-proxy-client" clientAuth
  issue_cert local-path-provisioner "/CN=mlkube:local-path-provisioner" clientAuth
  issue_cert kube-router "/CN=mlkube:kube-router" clientAuth
  issue_cert kubelet-serving "/CN=$NODE_NAME" serverAuth "DNS:$NODE_NAME,IP:$NODE_IP,IP:127.0.0.1"
  if [ ! -f "$pki/sa.key" ]; then
    openssl genrsa -out "$pki/sa.key" 2048 2>/dev/null
    openssl rsa -in "$pki/sa.key" -pubout -out "$pki/sa.pub" 2>/dev/null
    chmod 600 "$pki/sa.key"
  fi
  write_kubeconfig "$KUBECONFIG_ADMIN" admin
  local component
  for component in controller-manager scheduler kube-proxy kubelet local-path-provisioner kube-router; do
    write_kubeconfig "$STATE_DIR/config/$component.kubeconfig" "$component"
  done
}
