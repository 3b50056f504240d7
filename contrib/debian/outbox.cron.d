# /etc/cron.d/outbox: retry the mail that outbox could not send at once,
# every five minutes and once at boot.
#
# The errors of a queue run are about the smart host itself, and they are
# logged (syslog, facility mail) and shown by mailq.  Mailed by cron, they
# would only queue one more message behind the same failure.
MAILTO=""

*/5 * * * *	root	[ -x /usr/sbin/outbox ] && /usr/sbin/outbox -q
@reboot		root	[ -x /usr/sbin/outbox ] && /usr/sbin/outbox -q
