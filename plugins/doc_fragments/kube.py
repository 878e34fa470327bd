# Copyright (c) nodepatch.kube contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # The connection options every Kubernetes module shares; names and environment variables mirror kubernetes.core.
    DOCUMENTATION = r"""
options:
  kubeconfig:
    description:
      - Path of a kubeconfig file.
      - Without O(kubeconfig) and O(host), the C(KUBECONFIG) variable or C(~/.kube/config) is used, and inside a pod
        the service account's in-cluster configuration.
      - Can also be set with the E(K8S_AUTH_KUBECONFIG) environment variable.
    type: path
  context:
    description:
      - The kubeconfig context to use; the current context when not set.
      - Can also be set with the E(K8S_AUTH_CONTEXT) environment variable.
    type: str
  host:
    description:
      - URL of the API server, for a connection without kubeconfig (with O(api_key) or client certificates).
      - Can also be set with the E(K8S_AUTH_HOST) environment variable.
    type: str
  api_key:
    description:
      - Bearer token for O(host).
      - Can also be set with the E(K8S_AUTH_API_KEY) environment variable.
    type: str
  validate_certs:
    description:
      - Whether to verify the API server's TLS certificate. Leave it on outside test clusters.
      - Can also be set with the E(K8S_AUTH_VERIFY_SSL) environment variable.
    type: bool
    aliases: [verify_ssl]
  ca_cert:
    description:
      - CA bundle that signed the API server's certificate.
      - Can also be set with the E(K8S_AUTH_SSL_CA_CERT) environment variable.
    type: path
    aliases: [ssl_ca_cert]
  client_cert:
    description:
      - Client certificate for authentication.
      - Can also be set with the E(K8S_AUTH_CERT_FILE) environment variable.
    type: path
    aliases: [cert_file]
  client_key:
    description:
      - Private key of O(client_cert).
      - Can also be set with the E(K8S_AUTH_KEY_FILE) environment variable.
    type: path
    aliases: [key_file]
  proxy:
    description:
      - HTTP proxy URL for the connection to the API server.
      - Can also be set with the E(K8S_AUTH_PROXY) environment variable.
    type: str
requirements:
  - kubernetes >= 36.0.2 (Python library, on the controller)
notes:
  - The module group C(nodepatch.kube.kube) sets these options once for all Kubernetes modules with
    C(module_defaults).
  - Requests that meet HTTP 429, 5xx or a broken connection are retried with jittered exponential backoff.
"""

    # The same options for the inventory plugin, where environment variables are declared as such.
    INVENTORY = r"""
options:
  kubeconfig:
    description:
      - Path of a kubeconfig file.
      - Without O(kubeconfig) and O(host), the C(KUBECONFIG) variable or C(~/.kube/config) is used, and inside a pod
        the service account's in-cluster configuration.
    type: path
    env:
      - name: K8S_AUTH_KUBECONFIG
  context:
    description:
      - The kubeconfig context to use; the current context when not set.
    type: str
    env:
      - name: K8S_AUTH_CONTEXT
  host:
    description:
      - URL of the API server, for a connection without kubeconfig (with O(api_key) or client certificates).
    type: str
    env:
      - name: K8S_AUTH_HOST
  api_key:
    description:
      - Bearer token for O(host).
    type: str
    env:
      - name: K8S_AUTH_API_KEY
  validate_certs:
    description:
      - Whether to verify the API server's TLS certificate. Leave it on outside test clusters.
    type: bool
    env:
      - name: K8S_AUTH_VERIFY_SSL
    aliases: [verify_ssl]
  ca_cert:
    description:
      - CA bundle that signed the API server's certificate.
    type: path
    env:
      - name: K8S_AUTH_SSL_CA_CERT
    aliases: [ssl_ca_cert]
  client_cert:
    description:
      - Client certificate for authentication.
    type: path
    env:
      - name: K8S_AUTH_CERT_FILE
    aliases: [cert_file]
  client_key:
    description:
      - Private key of O(client_cert).
    type: path
    env:
      - name: K8S_AUTH_KEY_FILE
    aliases: [key_file]
  proxy:
    description:
      - HTTP proxy URL for the connection to the API server.
    type: str
    env:
      - name: K8S_AUTH_PROXY
"""

    # The same options for the nodepatch.kube.node connection, which also reads them from host variables (the
    # nodes inventory sets those from its own options).
    CONNECTION = r"""
options:
  kubeconfig:
    description:
      - Path of a kubeconfig file.
      - Without O(kubeconfig) and O(host), the C(KUBECONFIG) variable or C(~/.kube/config) is used, and inside a pod
        the service account's in-cluster configuration.
    type: path
    env:
      - name: K8S_AUTH_KUBECONFIG
    vars:
      - name: nodepatch_kube_kubeconfig
  context:
    description:
      - The kubeconfig context to use; the current context when not set.
    type: str
    env:
      - name: K8S_AUTH_CONTEXT
    vars:
      - name: nodepatch_kube_context
  host:
    description:
      - URL of the API server, for a connection without kubeconfig (with O(api_key) or client certificates).
    type: str
    env:
      - name: K8S_AUTH_HOST
    vars:
      - name: nodepatch_kube_host
  api_key:
    description:
      - Bearer token for O(host).
    type: str
    env:
      - name: K8S_AUTH_API_KEY
    vars:
      - name: nodepatch_kube_api_key
  validate_certs:
    description:
      - Whether to verify the API server's TLS certificate. Leave it on outside test clusters.
    type: bool
    env:
      - name: K8S_AUTH_VERIFY_SSL
    vars:
      - name: nodepatch_kube_validate_certs
    aliases: [verify_ssl]
  ca_cert:
    description:
      - CA bundle that signed the API server's certificate.
    type: path
    env:
      - name: K8S_AUTH_SSL_CA_CERT
    vars:
      - name: nodepatch_kube_ca_cert
    aliases: [ssl_ca_cert]
  client_cert:
    description:
      - Client certificate for authentication.
    type: path
    env:
      - name: K8S_AUTH_CERT_FILE
    vars:
      - name: nodepatch_kube_client_cert
    aliases: [cert_file]
  client_key:
    description:
      - Private key of O(client_cert).
    type: path
    env:
      - name: K8S_AUTH_KEY_FILE
    vars:
      - name: nodepatch_kube_client_key
    aliases: [key_file]
  proxy:
    description:
      - HTTP proxy URL for the connection to the API server.
    type: str
    env:
      - name: K8S_AUTH_PROXY
    vars:
      - name: nodepatch_kube_proxy
"""
