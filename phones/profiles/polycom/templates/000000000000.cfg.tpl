<?xml version="1.0" standalone="yes"?>
{#- Polycom/Poly master file: the firmware and the files every phone then loads ([PHONE_MAC_ADDRESS] is expanded by the phone). #}
<APPLICATION APP_FILE_PATH="sip.ld" CONFIG_FILES="[PHONE_MAC_ADDRESS]-user.cfg" MISC_FILES="" LOG_FILE_DIRECTORY="" OVERRIDES_DIRECTORY="" CONTACTS_DIRECTORY="" LICENSE_DIRECTORY="" />
