<?xml version="1.0" encoding="UTF-8"?>
{#- Gigaset IP PRO per-device file <MAC>.xml, written by provisiond from Gigaset's documented provisioning item ids. -#}
{#- Account 1 lives in BS_IP_Data1, accounts 2 and up in BS_Accounts.astAccounts[index from 0]. #}
<ProviderFrame xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:noNamespaceSchemaLocation="profile.xsd">
  <Provider>
{%- for n, line in sip_lines | numsort %}
{%- set i = n | int %}
{%- set at = 'BS_IP_Data1.' if i == 1 else 'BS_Accounts.astAccounts[' + (i - 2) + '].' %}
    <SYMB_ITEM ID="{{ at }}ucB_SIP_ACCOUNT_IS_ACTIVE" class="symb_item" value="1"/>
    <SYMB_ITEM ID="{{ at }}aucS_SIP_ACCOUNT_NAME" class="symb_item" value='"{{ line.number | default(line.username) | e }}"'/>
    <SYMB_ITEM ID="{{ at }}aucS_SIP_DISPLAYNAME" class="symb_item" value='"{{ line.display_name | default('') | e }}"'/>
    <SYMB_ITEM ID="{{ at }}aucS_SIP_USER_ID" class="symb_item" value='"{{ line.username | e }}"'/>
    <SYMB_ITEM ID="{{ at }}aucS_SIP_LOGIN_ID" class="symb_item" value='"{{ line.auth_username | default(line.username) | e }}"'/>
    <SYMB_ITEM ID="{{ at }}aucS_SIP_PASSWORD" class="symb_item" value='"{{ line.password | default('') | e }}"'/>
    <SYMB_ITEM ID="{{ at }}aucS_SIP_DOMAIN" class="symb_item" value='"{{ line.proxy_ip | default(sip_proxy_ip | default('')) | e }}"'/>
    <SYMB_ITEM ID="{{ at }}aucS_SIP_SERVER" class="symb_item" value='"{{ line.proxy_ip | default(sip_proxy_ip | default('')) | e }}"'/>
    <SYMB_ITEM ID="{{ at }}uiI_SIP_SERVER_PORT" class="symb_item" value="{{ line.proxy_port | default(sip_proxy_port | default(5060)) }}"/>
    <SYMB_ITEM ID="{{ at }}aucS_SIP_REGISTRAR" class="symb_item" value='"{{ line.registrar_ip | default(line.proxy_ip | default('')) | e }}"'/>
    <SYMB_ITEM ID="{{ at }}uiI_SIP_REGISTRAR_PORT" class="symb_item" value="{{ line.registrar_port | default(line.proxy_port | default(5060)) }}"/>
{%- endfor %}
{%- if ntp_enabled %}
    <SYMB_ITEM ID="BS_IP_Data1.aucS_TIME_SERVER" class="symb_item" value='"{{ ntp_ip | default('') | e }}"'/>
{%- endif %}
{%- if timezone is defined %}
{%- for k, v in timezone | tz('gigaset') | dictsort %}
    <SYMB_ITEM ID="BS_IP_Data1.aucS_TIME_ZONE_NAME" class="symb_item" value='"{{ v | e }}"'/>
{%- endfor %}
{%- endif %}
{%- if vlan_enabled %}
    <SYMB_ITEM ID="BS_IP_Data1.ucB_VLAN_ENABLE" class="symb_item" value="1"/>
    <SYMB_ITEM ID="BS_IP_Data1.uiI_VLAN_ID" class="symb_item" value="{{ vlan_id }}"/>
    <SYMB_ITEM ID="BS_IP_Data1.ucI_VLAN_PRIORITY" class="symb_item" value="{{ vlan_priority | default(0) }}"/>
{%- endif %}
{%- if syslog_enabled %}
    <SYMB_ITEM ID="BS_IP_Data1.aucS_SYSLOG_SERVER" class="symb_item" value='"{{ syslog_ip | e }}"'/>
    <SYMB_ITEM ID="BS_IP_Data1.uiI_SYSLOG_PORT" class="symb_item" value="{{ syslog_port }}"/>
{%- endif %}
  </Provider>
</ProviderFrame>
