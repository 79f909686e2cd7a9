#!/bin/sh
# Writes a self-contained EWS stand-in on Apache into DIR and prints DIR:
# a real NTLMv2 check by mod_auth_gssapi + gss-ntlmssp on EWS_NTLM_PORT, and
# Basic (htpasswd) on EWS_BASIC_PORT, both over TLS with a self-signed
# certificate (DIR/cert.pem, valid for localhost and 127.0.0.1), in front of
# a CGI at /EWS/Exchange.asmx that answers GetFolder and ResolveNames.
#
#   D=$(EWS_NTLM_PORT=18443 EWS_BASIC_PORT=18444 scripts/ews-apache-start.sh /tmp/ews)
#   NTLM_USER_FILE=$D/users.ntlm apache2 -f $D/httpd.conf -DFOREGROUND &   # stop: kill that PID
#
# Users (EWS_PASSWORD overrides the password): NTLM CONTOSO\alice, Basic
# alice and alice@contoso.test; the mailbox is alice@contoso.test.
# Needs apache2, libapache2-mod-auth-gssapi, gss-ntlmssp, apache2-utils
# (htpasswd) and openssl. Adapted from the peer recipe in
# local-test-peers.md; GssapiBasicAuth with the ntlmssp mech crashes the
# child, hence Basic on its own virtual host.
set -eu
DIR=${1:?usage: ews-apache-start.sh DIR}
NTLM_PORT=${EWS_NTLM_PORT:-18443}
BASIC_PORT=${EWS_BASIC_PORT:-18444}
PASSWORD=${EWS_PASSWORD:-alicepw}
MODULES=${APACHE_MODULES:-/usr/lib/apache2/modules}

mkdir -p "$DIR/cgi" "$DIR/run" "$DIR/logs"
DIR=$(cd "$DIR" && pwd)
# Apache's children run as nobody: they must read the tree and write logs.
chmod 755 "$DIR" "$DIR/cgi"
chmod 777 "$DIR/run" "$DIR/logs"

openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj /CN=localhost \
	-addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
	-keyout "$DIR/key.pem" -out "$DIR/cert.pem" >/dev/null 2>&1
chmod 644 "$DIR/key.pem" "$DIR/cert.pem"

printf 'CONTOSO:alice:%s\n' "$PASSWORD" >"$DIR/users.ntlm"
htpasswd -cb "$DIR/users.htpasswd" alice "$PASSWORD" >/dev/null 2>&1
htpasswd -b "$DIR/users.htpasswd" alice@contoso.test "$PASSWORD" >/dev/null 2>&1
chmod 644 "$DIR/users.ntlm" "$DIR/users.htpasswd"

cat >"$DIR/cgi/Exchange.asmx" <<'CGI'
#!/bin/sh
# Minimal EWS: GetFolder (inbox) and ResolveNames with Exchange-shaped SOAP.
body=$(head -c "${CONTENT_LENGTH:-0}")
user=${REMOTE_USER:-}
H='<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Header><h:ServerVersionInfo MajorVersion="15" MinorVersion="1" MajorBuildNumber="2507" MinorBuildNumber="6" Version="V2017_07_11" xmlns:h="http://schemas.microsoft.com/exchange/services/2006/types"/></s:Header><s:Body>'
T='</s:Body></s:Envelope>'
M='xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages" xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types"'
case $body in
*GetFolder*)
	printf 'Content-Type: text/xml; charset=utf-8\r\nX-User: %s\r\n\r\n' "$user"
	printf '%s<m:GetFolderResponse %s><m:ResponseMessages><m:GetFolderResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode><m:Folders><t:Folder><t:FolderId Id="AAMkAD-inbox" ChangeKey="AQAAAB"/><t:DisplayName>Inbox</t:DisplayName><t:TotalCount>0</t:TotalCount><t:ChildFolderCount>0</t:ChildFolderCount><t:UnreadCount>0</t:UnreadCount></t:Folder></m:Folders></m:GetFolderResponseMessage></m:ResponseMessages></m:GetFolderResponse>%s' "$H" "$M" "$T"
	;;
*ResolveNames*)
	printf 'Content-Type: text/xml; charset=utf-8\r\nX-User: %s\r\n\r\n' "$user"
	printf '%s<m:ResolveNamesResponse %s><m:ResponseMessages><m:ResolveNamesResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode><m:ResolutionSet TotalItemsInView="1" IncludesLastItemInRange="true"><t:Resolution><t:Mailbox><t:Name>Alice (%s)</t:Name><t:EmailAddress>alice@contoso.test</t:EmailAddress><t:RoutingType>SMTP</t:RoutingType><t:MailboxType>Mailbox</t:MailboxType></t:Mailbox></t:Resolution></m:ResolutionSet></m:ResolveNamesResponseMessage></m:ResponseMessages></m:ResolveNamesResponse>%s' "$H" "$M" "$user" "$T"
	;;
*)
	printf 'Status: 500 Internal Server Error\r\nContent-Type: text/xml; charset=utf-8\r\n\r\n'
	printf '%s<s:Fault><faultcode>s:Client</faultcode><faultstring>The request failed schema validation</faultstring></s:Fault>%s' "$H" "$T"
	;;
esac
CGI
chmod 755 "$DIR/cgi/Exchange.asmx"

cat >"$DIR/httpd.conf" <<CONF
ServerRoot /etc/apache2
PidFile $DIR/run/httpd.pid
Listen 127.0.0.1:$NTLM_PORT
Listen 127.0.0.1:$BASIC_PORT
ServerName localhost
LoadModule mpm_prefork_module $MODULES/mod_mpm_prefork.so
LoadModule authz_core_module $MODULES/mod_authz_core.so
LoadModule authn_core_module $MODULES/mod_authn_core.so
LoadModule authz_user_module $MODULES/mod_authz_user.so
LoadModule alias_module $MODULES/mod_alias.so
LoadModule cgi_module $MODULES/mod_cgi.so
LoadModule env_module $MODULES/mod_env.so
LoadModule ssl_module $MODULES/mod_ssl.so
LoadModule socache_shmcb_module $MODULES/mod_socache_shmcb.so
LoadModule auth_basic_module $MODULES/mod_auth_basic.so
LoadModule authn_file_module $MODULES/mod_authn_file.so
LoadModule auth_gssapi_module $MODULES/mod_auth_gssapi.so
User nobody
Group nogroup
ErrorLog $DIR/logs/error.log
LogLevel warn
Mutex file:$DIR/run
DefaultRuntimeDir $DIR/run
StartServers 2
SSLEngine on
SSLCertificateFile $DIR/cert.pem
SSLCertificateKeyFile $DIR/key.pem
SSLSessionCache none
ScriptAlias /EWS/Exchange.asmx $DIR/cgi/Exchange.asmx
<VirtualHost 127.0.0.1:$NTLM_PORT>
<Location /EWS>
  AuthType GSSAPI
  AuthName "EWS"
  GssapiAllowedMech ntlmssp
  GssapiConnectionBound On
  Require valid-user
</Location>
</VirtualHost>
<VirtualHost 127.0.0.1:$BASIC_PORT>
<Location /EWS>
  AuthType Basic
  AuthName "EWS"
  AuthBasicProvider file
  AuthUserFile $DIR/users.htpasswd
  Require valid-user
</Location>
</VirtualHost>
CONF
echo "$DIR"
