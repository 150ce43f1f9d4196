"""The Kubernetes manifests (kustomize; README: Deploy on Kubernetes) and the script that copies
monitoring/'s and grafana/'s generated files into them."""
