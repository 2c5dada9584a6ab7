<?xml version="1.0" encoding="UTF-8"?>
{#- Cisco SPA/MPP (3PCC) per-device file <mac>.xml, written by provisiond from Cisco's documented parameter names. #}
{%- set fk_functions = { 'speeddial': 'sd', 'blf': 'blf+sd', 'park': 'prk' } %}
<flat-profile>
{%- for n, line in sip_lines | numsort %}
  <Line_Enable_{{ n }}_ ua="na">Yes</Line_Enable_{{ n }}_>
  <Display_Name_{{ n }}_ ua="na">{{ line.display_name | default('') | e }}</Display_Name_{{ n }}_>
  <User_ID_{{ n }}_ ua="na">{{ line.username | e }}</User_ID_{{ n }}_>
  <Use_Auth_ID_{{ n }}_ ua="na">Yes</Use_Auth_ID_{{ n }}_>
  <Auth_ID_{{ n }}_ ua="na">{{ line.auth_username | default(line.username) | e }}</Auth_ID_{{ n }}_>
  <Password_{{ n }}_ ua="na">{{ line.password | default('') | e }}</Password_{{ n }}_>
  <Proxy_{{ n }}_ ua="na">{{ line.proxy_ip | default(sip_proxy_ip | default('')) | e }}:{{ line.proxy_port | default(sip_proxy_port | default(5060)) }}</Proxy_{{ n }}_>
{%- if line.outbound_proxy_ip is defined %}
  <Use_Outbound_Proxy_{{ n }}_ ua="na">Yes</Use_Outbound_Proxy_{{ n }}_>
  <Outbound_Proxy_{{ n }}_ ua="na">{{ line.outbound_proxy_ip | e }}:{{ line.outbound_proxy_port | default(5060) }}</Outbound_Proxy_{{ n }}_>
{%- endif %}
  <Register_{{ n }}_ ua="na">Yes</Register_{{ n }}_>
  <Extension_{{ n }}_ ua="na">{{ n }}</Extension_{{ n }}_>
  <Short_Name_{{ n }}_ ua="na">{{ line.number | default(line.username) | e }}</Short_Name_{{ n }}_>
{%- endfor %}
  <Resync_From_SIP ua="na">Yes</Resync_From_SIP>
{%- if ntp_enabled %}
  <Primary_NTP_Server ua="na">{{ ntp_ip | default('') | e }}</Primary_NTP_Server>
{%- endif %}
{%- if timezone is defined %}
{%- for k, v in timezone | tz('cisco-spa') | dictsort %}
  <{{ k }} ua="na">{{ v | e }}</{{ k }}>
{%- endfor %}
{%- endif %}
{%- if vlan_enabled %}
  <Enable_VLAN ua="na">Yes</Enable_VLAN>
  <VLAN_ID ua="na">{{ vlan_id }}</VLAN_ID>
{%- endif %}
{%- if syslog_enabled %}
  <Syslog_Server ua="na">{{ syslog_ip | e }}:{{ syslog_port }}</Syslog_Server>
{%- endif %}
{%- if admin_password is defined %}
  <Admin_Passwd ua="na">{{ admin_password | e }}</Admin_Passwd>
{%- endif %}
{%- if user_password is defined %}
  <User_Password ua="na">{{ user_password | e }}</User_Password>
{%- endif %}
{%- if locale is defined %}
  <Language_Selection ua="na">{{ locale | e }}</Language_Selection>
{%- endif %}
{%- for n, key in funckeys | numsort %}
  <Extended_Function_{{ n }}_ ua="na">fnc={{ fk_functions[key.type] | default('sd') }};sub={{ key.value | default('') | e }};nme={{ key.label | default('') | e }}</Extended_Function_{{ n }}_>
{%- endfor %}
</flat-profile>
