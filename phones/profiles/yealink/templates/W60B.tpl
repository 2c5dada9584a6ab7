{#- Yealink W60B DECT base: its handsets have no line keys to provision, the rest is base.tpl. -#}
{% extends "base.tpl" %}
{%- block keys %}
{%- endblock %}
