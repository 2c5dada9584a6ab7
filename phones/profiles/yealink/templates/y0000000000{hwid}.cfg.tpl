#!version:1.0.0.1
{#- Yealink common file y0000000000<hwid>.cfg: what every phone of a hardware family shares, before its <mac>.cfg. -#}
{#- No account, no password and no provisioning URL (it carries the tenant's key): the file is the same for every phone of the family. #}
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
{%- endif %}
{%- if syslog_enabled %}
static.syslog.enable = 1
static.syslog.server = {{ syslog_ip }}
static.syslog.server_port = {{ syslog_port }}
{%- endif %}
{%- if locale is defined %}

## language
lang.gui = {{ locale }}
lang.wui = {{ locale }}
{%- endif %}
