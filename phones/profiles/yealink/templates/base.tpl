#!version:1.0.0.1
{#- Yealink per-device file <mac>.cfg, written by provisiond from Yealink's documented parameter names. -#}
{%- set fk_types = { 'speeddial': '13', 'blf': '16', 'park': '10' } %}
## accounts
{%- for n, line in sip_lines | numsort %}
account.{{ n }}.enable = 1
account.{{ n }}.label = {{ line.display_name | default(line.number | default(line.username)) }}
account.{{ n }}.display_name = {{ line.display_name | default('') }}
account.{{ n }}.user_name = {{ line.username }}
account.{{ n }}.auth_name = {{ line.auth_username | default(line.username) }}
account.{{ n }}.password = {{ line.password | default('') }}
account.{{ n }}.sip_server.1.address = {{ line.proxy_ip | default(sip_proxy_ip | default('')) }}
account.{{ n }}.sip_server.1.port = {{ line.proxy_port | default(sip_proxy_port | default(5060)) }}
{%- if line.backup_proxy_ip is defined %}
account.{{ n }}.sip_server.2.address = {{ line.backup_proxy_ip }}
account.{{ n }}.sip_server.2.port = {{ line.backup_proxy_port | default(5060) }}
{%- endif %}
{%- if line.outbound_proxy_ip is defined %}
account.{{ n }}.outbound_proxy_enable = 1
account.{{ n }}.outbound_host = {{ line.outbound_proxy_ip }}
account.{{ n }}.outbound_port = {{ line.outbound_proxy_port | default(5060) }}
{%- endif %}
{%- endfor %}
sip.notify_reboot_enable = 0

## time
{%- if ntp_enabled %}
local_time.manual_ntp_srv_prior = 1
local_time.ntp_server1 = {{ ntp_ip | default('') }}
{%- endif %}
{%- if timezone is defined %}
{%- for k, v in timezone | tz('yealink') | dictsort %}
{{ k }} = {{ v }}
{%- endfor %}
{%- endif %}

## network
{%- if vlan_enabled %}
static.network.vlan.internet_port_enable = 1
static.network.vlan.internet_port_vid = {{ vlan_id }}
static.network.vlan.internet_port_priority = {{ vlan_priority | default(0) }}
{%- else %}
static.network.vlan.internet_port_enable = 0
{%- endif %}
{%- if syslog_enabled %}
static.syslog.enable = 1
static.syslog.server = {{ syslog_ip }}
static.syslog.server_port = {{ syslog_port }}
{%- endif %}

## security
{%- if admin_username is defined %}
static.security.user_name.admin = {{ admin_username }}
{%- endif %}
{%- if admin_password is defined %}
static.security.user_password = {{ admin_username | default('admin') }}:{{ admin_password }}
{%- endif %}
{%- if locale is defined %}
lang.gui = {{ locale }}
lang.wui = {{ locale }}
{%- endif %}

{%- block keys %}

## keys
{%- for n, key in funckeys | numsort %}
linekey.{{ n }}.type = {{ fk_types[key.type] | default('0') }}
linekey.{{ n }}.value = {{ key.value | default('') }}
linekey.{{ n }}.label = {{ key.label | default('') }}
linekey.{{ n }}.line = {{ key.line | default(1) }}
{%- endfor %}
{%- endblock %}
{%- if http_base_url is defined %}

static.auto_provision.server.url = {{ http_base_url }}/
{%- endif %}
