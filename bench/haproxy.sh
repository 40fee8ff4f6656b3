# haproxy as the reference proxy of bench/run.sh and bench/profile.sh (sourced by both): HTTP
# mode, keep-alive, connections to the upstream reused.
# shellcheck shell=bash
haproxy_conf() { # threads listen h2-listen upstream
  cat <<HAP
global
  maxconn 8000
  nbthread $1
defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
  option http-keep-alive
frontend fe
  bind $2
  bind $3 proto h2
  default_backend be
backend be
  http-reuse always
  server up $4
HAP
}
