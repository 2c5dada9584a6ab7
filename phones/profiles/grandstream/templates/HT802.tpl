{#- Grandstream HT802 analogue adapter: no multi-purpose keys, the rest is base.tpl. -#}
{% extends "base.tpl" %}
{%- block keys %}
{%- endblock %}
