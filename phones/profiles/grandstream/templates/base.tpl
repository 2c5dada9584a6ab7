<?xml version="1.0" encoding="UTF-8"?>
{#- Grandstream per-device file cfg<mac>.xml, written by provisiond from Grandstream's documented P-value numbers. -#}
{#- Multi-purpose keys 1 to 7: mode P323+, account/name/value P301+ in threes. -#}
{#- Per account: active, SIP server, outbound proxy, user ID, auth ID, password, name, account name. -#}
{%- set acct = {
  '1': ['P271', 'P47', 'P48', 'P35', 'P36', 'P34', 'P3', 'P270'],
  '2': ['P401', 'P402', 'P403', 'P404', 'P405', 'P406', 'P407', 'P417'],
  '3': ['P501', 'P502', 'P503', 'P504', 'P505', 'P506', 'P507', 'P517'],
  '4': ['P601', 'P602', 'P603', 'P604', 'P605', 'P606', 'P607', 'P617']
} %}
{%- set fk_modes = { 'speeddial': '0', 'blf': '1', 'park': '9' } %}
<gs_provision version="1">
  <config version="1">
{%- for n, line in sip_lines | numsort %}
{%- if acct[n] is defined %}
{%- set p = acct[n] %}
    <{{ p[0] }}>1</{{ p[0] }}>
    <{{ p[1] }}>{{ line.proxy_ip | default(sip_proxy_ip | default('')) | e }}:{{ line.proxy_port | default(sip_proxy_port | default(5060)) }}</{{ p[1] }}>
    <{{ p[2] }}>{{ line.outbound_proxy_ip | default('') | e }}</{{ p[2] }}>
    <{{ p[3] }}>{{ line.username | e }}</{{ p[3] }}>
    <{{ p[4] }}>{{ line.auth_username | default(line.username) | e }}</{{ p[4] }}>
    <{{ p[5] }}>{{ line.password | default('') | e }}</{{ p[5] }}>
    <{{ p[6] }}>{{ line.display_name | default('') | e }}</{{ p[6] }}>
    <{{ p[7] }}>{{ line.number | default(line.username) | e }}</{{ p[7] }}>
{%- endif %}
{%- endfor %}
{%- if ntp_enabled %}
    <P30>{{ ntp_ip | default('') | e }}</P30>
{%- endif %}
{%- if timezone is defined %}
{%- for k, v in timezone | tz('grandstream') | dictsort %}
    <{{ k }}>{{ v | e }}</{{ k }}>
{%- endfor %}
{%- endif %}
{%- if vlan_enabled %}
    <P51>{{ vlan_id }}</P51>
    <P87>{{ vlan_priority | default(0) }}</P87>
{%- endif %}
{%- if syslog_enabled %}
    <P207>{{ syslog_ip | e }}</P207>
    <P208>1</P208>
{%- endif %}
{%- if XX_server_url_without_scheme is defined %}
{#- sip-phones.md §2.6: PnP runs on factory-default phones only, so the first file served sets the
    config server for good: P237 is host and path without a scheme, P212 the protocol (1 HTTP, 2 HTTPS). #}
    <P237>{{ XX_server_url_without_scheme | e }}</P237>
    <P212>{{ '2' if 'https://' in XX_server_url else '1' }}</P212>
{%- endif %}
{%- if admin_password is defined %}
    <P2>{{ admin_password | e }}</P2>
{%- endif %}
{%- if user_password is defined %}
    <P196>{{ user_password | e }}</P196>
{%- endif %}
{%- block keys %}
{%- for n, key in funckeys | numsort %}
{%- set i = n | int %}
{%- if i >= 1 and i <= 7 %}
    <P{{ 322 + i }}>{{ fk_modes[key.type] | default('0') }}</P{{ 322 + i }}>
    <P{{ 298 + 3 * i }}>{{ (key.line | default(1)) - 1 }}</P{{ 298 + 3 * i }}>
    <P{{ 299 + 3 * i }}>{{ key.label | default('') | e }}</P{{ 299 + 3 * i }}>
    <P{{ 300 + 3 * i }}>{{ key.value | default('') | e }}</P{{ 300 + 3 * i }}>
{%- endif %}
{%- endfor %}
{%- endblock %}
  </config>
</gs_provision>
