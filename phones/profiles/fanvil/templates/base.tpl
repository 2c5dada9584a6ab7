<<VOIP CONFIG FILE>>Version:2.0000000000
{#- Fanvil per-device file <mac>.cfg, written by provisiond from Fanvil's documented configuration item names. #}
{%- set fk_types = { 'speeddial': '1', 'blf': '1', 'park': '1' } %}
{%- set fk_subtypes = { 'speeddial': '@', 'blf': 'B', 'park': '@' } %}

<GLOBAL CONFIG MODULE>
{%- if ntp_enabled %}
Enable SNTP        :1
SNTP Server        :{{ ntp_ip | default('') }}
{%- endif %}
{%- if timezone is defined %}
{%- for k, v in timezone | tz('fanvil') | dictsort %}
Time Zone Name     :{{ v }}
{%- endfor %}
{%- endif %}
{%- if syslog_enabled %}
Enable Syslog      :1
Syslog Address     :{{ syslog_ip }}
Syslog Port        :{{ syslog_port }}
{%- endif %}

<LAN CONFIG MODULE>
{%- if vlan_enabled %}
Enable WAN VLAN    :1
WAN VLAN ID        :{{ vlan_id }}
WAN VLAN Priority  :{{ vlan_priority | default(0) }}
{%- else %}
Enable WAN VLAN    :0
{%- endif %}

<SIP CONFIG MODULE>
--SIP Line List--  :
{%- for n, line in sip_lines | numsort %}
SIP{{ n }} Phone Number       :{{ line.number | default(line.username) }}
SIP{{ n }} Display Name       :{{ line.display_name | default('') }}
SIP{{ n }} Sip Name           :{{ line.display_name | default('') }}
SIP{{ n }} Register Addr      :{{ line.registrar_ip | default(line.proxy_ip | default('')) }}
SIP{{ n }} Register Port      :{{ line.registrar_port | default(line.proxy_port | default(5060)) }}
SIP{{ n }} Register User      :{{ line.auth_username | default(line.username) }}
SIP{{ n }} Register Pswd      :{{ line.password | default('') }}
SIP{{ n }} Proxy Addr         :{{ line.proxy_ip | default('') }}
SIP{{ n }} Proxy Port         :{{ line.proxy_port | default(5060) }}
SIP{{ n }} Enable Reg         :1
{%- endfor %}

<WEB CONFIG MODULE>
{%- if admin_password is defined %}
--Web Account--    :
Web User           :{{ admin_username | default('admin') }}
Web Password       :{{ admin_password }}
{%- endif %}

<DSS CONFIG MODULE>
{%- for n, key in funckeys | numsort %}
Fkey{{ n }} Type      :{{ fk_types[key.type] | default('0') }}
Fkey{{ n }} Value     :{{ key.value | default('') }}@{{ key.line | default(1) }}/{{ fk_subtypes[key.type] | default('@') }}
Fkey{{ n }} Title     :{{ key.label | default('') }}
{%- endfor %}
<<END OF FILE>>
