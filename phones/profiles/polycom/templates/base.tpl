<?xml version="1.0" standalone="yes"?>
{#- Polycom/Poly per-device file <mac>-user.cfg, written by provisiond from Poly's documented parameter names. #}
<PHONE_CONFIG>
  <REGISTRATIONS
{%- for n, line in sip_lines | numsort %}
    reg.{{ n }}.address="{{ line.username | e }}"
    reg.{{ n }}.label="{{ line.display_name | default(line.number | default(line.username)) | e }}"
    reg.{{ n }}.displayName="{{ line.display_name | default('') | e }}"
    reg.{{ n }}.auth.userId="{{ line.auth_username | default(line.username) | e }}"
    reg.{{ n }}.auth.password="{{ line.password | default('') | e }}"
    reg.{{ n }}.server.1.address="{{ line.proxy_ip | default(sip_proxy_ip | default('')) | e }}"
    reg.{{ n }}.server.1.port="{{ line.proxy_port | default(sip_proxy_port | default(5060)) }}"
{%- if line.backup_proxy_ip is defined %}
    reg.{{ n }}.server.2.address="{{ line.backup_proxy_ip | e }}"
    reg.{{ n }}.server.2.port="{{ line.backup_proxy_port | default(5060) }}"
{%- endif %}
{%- if line.outbound_proxy_ip is defined %}
    reg.{{ n }}.outboundProxy.address="{{ line.outbound_proxy_ip | e }}"
    reg.{{ n }}.outboundProxy.port="{{ line.outbound_proxy_port | default(5060) }}"
{%- endif %}
{%- endfor %}
  />
  <DEVICE
    device.set="1"
{%- if ntp_enabled %}
    device.sntp.serverName.set="1"
    device.sntp.serverName="{{ ntp_ip | default('') | e }}"
{%- endif %}
{%- if vlan_enabled %}
    device.net.vlanId.set="1"
    device.net.vlanId="{{ vlan_id }}"
{%- endif %}
{%- if syslog_enabled %}
    device.syslog.serverName.set="1"
    device.syslog.serverName="{{ syslog_ip | e }}"
{%- endif %}
{%- if admin_password is defined %}
    device.auth.localAdminPassword.set="1"
    device.auth.localAdminPassword="{{ admin_password | e }}"
{%- endif %}
{%- if user_password is defined %}
    device.auth.localUserPassword.set="1"
    device.auth.localUserPassword="{{ user_password | e }}"
{%- endif %}
  />
{%- if ntp_enabled or timezone is defined %}
  <SNTP
{%- if ntp_enabled %}
    tcpIpApp.sntp.address="{{ ntp_ip | default('') | e }}"
{%- endif %}
{%- if timezone is defined %}
{%- for k, v in timezone | tz('polycom') | dictsort %}
    {{ k }}="{{ v | e }}"
{%- endfor %}
{%- endif %}
  />
{%- endif %}
{%- if locale is defined %}
  <LOCALE lcl.ml.lang="{{ locale | e }}" />
{%- endif %}
  <ATTENDANT
{%- for n, key in funckeys | numsort %}
    attendant.resourceList.{{ n }}.address="{{ key.value | default('') | e }}"
    attendant.resourceList.{{ n }}.label="{{ key.label | default('') | e }}"
    attendant.resourceList.{{ n }}.type="{{ 'automata' if key.type == 'speeddial' else 'normal' }}"
{%- endfor %}
  />
</PHONE_CONFIG>
