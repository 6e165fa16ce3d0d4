# A second checkov pass over terraform/ with every optional feature on, so the
# resources that only exist with a domain or the proxy service (HTTPS
# listeners, certificate, Cloud Map, the proxy's listener, group and logs, the
# ALB access-log bucket) are
# scanned with the values they really get. checkov evaluates count and
# conditionals with these values instead of the defaults.
domain_name          = "web.example.com"
hosted_zone_id       = "Z0123456789ABCDEFGHIJ"
enable_proxy_service = true
nat_gateway_per_az   = true
enable_alb_access_logs = true
