<?xml version="1.0" encoding="utf-8"?>
{#- Snom per-device file <MAC>.xml, written by provisiond from Snom's documented setting names. #}
{%- set fk_types = { 'speeddial': 'speed', 'blf': 'blf', 'park': 'speed' } %}
<settings>
  <phone-settings e="2">
{%- for n, line in sip_lines | numsort %}
    <user_active idx="{{ n }}" perm="">on</user_active>
    <user_realname idx="{{ n }}" perm="">{{ line.display_name | default('') | e }}</user_realname>
    <user_name idx="{{ n }}" perm="">{{ line.username | e }}</user_name>
    <user_pname idx="{{ n }}" perm="">{{ line.auth_username | default(line.username) | e }}</user_pname>
    <user_pass idx="{{ n }}" perm="">{{ line.password | default('') | e }}</user_pass>
    <user_host idx="{{ n }}" perm="">{{ line.proxy_ip | default(sip_proxy_ip | default('')) | e }}:{{ line.proxy_port | default(sip_proxy_port | default(5060)) }}</user_host>
{%- if line.outbound_proxy_ip is defined %}
    <user_outbound idx="{{ n }}" perm="">{{ line.outbound_proxy_ip | e }}:{{ line.outbound_proxy_port | default(5060) }}</user_outbound>
{%- endif %}
    <user_idle_text idx="{{ n }}" perm="">{{ line.number | default(line.username) | e }}</user_idle_text>
{%- endfor %}
{%- if ntp_enabled %}
    <ntp_server perm="">{{ ntp_ip | default('') | e }}</ntp_server>
{%- endif %}
{%- if timezone is defined %}
{%- for k, v in timezone | tz('snom') | dictsort %}
    <{{ k }} perm="">{{ v | e }}</{{ k }}>
{%- endfor %}
{%- endif %}
{%- if vlan_enabled %}
    <vlan_id perm="">{{ vlan_id }}</vlan_id>
    <vlan_qos perm="">{{ vlan_priority | default(0) }}</vlan_qos>
{%- endif %}
{%- if syslog_enabled %}
    <syslog_server perm="">{{ syslog_ip | e }}:{{ syslog_port }}</syslog_server>
{%- endif %}
{%- if admin_password is defined %}
    <admin_mode_password perm="">{{ admin_password | e }}</admin_mode_password>
{%- endif %}
{%- if user_password is defined %}
    <http_user perm="">{{ user_username | default('user') | e }}</http_user>
    <http_pass perm="">{{ user_password | e }}</http_pass>
{%- endif %}
{%- if locale is defined %}
    <language perm="">{{ locale | e }}</language>
{%- endif %}
{%- if http_base_url is defined %}
{#- sip-phones.md §2.6: the setting URL is fetched as a file ({mac} in Snom's own default): point it at this file, so a phone found by PnP stays provisioned. #}
    <setting_server perm="">{{ http_base_url | e }}/{{ device.mac_hex | upper }}.xml</setting_server>
{%- endif %}
  </phone-settings>
  <functionKeys e="2">
{%- for n, key in funckeys | numsort %}
    <fkey idx="{{ (n | int) - 1 }}" context="{{ key.line | default(1) }}" label="{{ key.label | default('') | e }}" perm="">{{ fk_types[key.type] | default('none') }} {{ key.value | default('') | e }}</fkey>
{%- endfor %}
  </functionKeys>
</settings>
