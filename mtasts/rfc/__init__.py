"""The RFC grammar: RFC 8461 policies and ``_mta-sts`` records, RFC 8460 ``_smtp._tls`` records,
host names and MX matching. Standard library only: the policy pack and every layer above use it."""
