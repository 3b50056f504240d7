/*
 * Compile-time defaults and limits of outbox.
 *
 * Every knob that bounds memory, time or input lives here, with the
 * reason for its value.  Edit in place; everything depends on this file.
 */
#ifndef OUTBOX_CONFIG_H
#define OUTBOX_CONFIG_H

/* Paths. */
#define PATH_CONFIG	"/etc/outbox.conf"
#define PATH_SPOOL	"/var/spool/outbox"
#define PATH_CAFILE	"/etc/ssl/certs/ca-certificates.crt"

/* Ports when the configuration names none (RFC 6409, RFC 8314, RFC 5321). */
#define PORT_STARTTLS	587
#define PORT_TLS	465
#define PORT_PLAIN	25

/*
 * Time.  The "timeout" key (default below) bounds connecting, the TLS
 * handshake and the replies to EHLO, STARTTLS, AUTH, RSET and QUIT.
 * The stages that RFC 5321 section 4.5.3.2 gives minimums for use those
 * minimums, in seconds.
 */
#define DEF_TIMEOUT	60
#define TMO_GREETING	300	/* 4.5.3.2.1 initial 220 */
#define TMO_MAIL	300	/* 4.5.3.2.2 MAIL */
#define TMO_RCPT	300	/* 4.5.3.2.3 RCPT */
#define TMO_DATA	120	/* 4.5.3.2.4 DATA initiation */
#define TMO_BLOCK	180	/* 4.5.3.2.5 each data block sent */
#define TMO_DOT		600	/* 4.5.3.2.6 DATA termination */
#define SESSION_MAX	3600	/* one SMTP session, all messages included */

/* Give up on a message this old (seconds) unless "maxage" says otherwise. */
#define DEF_MAXAGE	(5 * 24 * 3600)

/*
 * Intake refuses a message that would leave less than this many bytes
 * free in the spool, so that queue runs can still write delivery state
 * and bounces (REQUIREMENTS Q-5).
 */
#define SPOOL_RESERVE	(1024 * 1024)

/*
 * Retry backoff, for the foreground runner (-q<interval>) and "backoff
 * yes": after N failed attempts a message waits BACKOFF_MIN * 2^(N-1)
 * seconds, at most BACKOFF_MAX, before the next.  A plain -q tries every
 * message.
 */
#define BACKOFF_MIN	(5 * 60)
#define BACKOFF_MAX	(4 * 3600)

/*
 * After the smart host refused the credentials (5xx to AUTH), sessions
 * wait this long, unless the configuration or password file changes.
 */
#define AUTH_HOLD	(15 * 60)

/* State files without their message are removed after this long. */
#define STATE_ORPHAN_AGE	3600

/* Files in tmp/ older than this are debris of a dead intake (qmail: 36 h). */
#define TMP_MAXAGE	(36 * 3600)

/*
 * A clock before this date cannot check a certificate's validity
 * (2026-01-01 00:00:00 UTC).  Delivery is deferred instead.
 */
#define CLOCK_FLOOR	1767225600LL

/* Address limits from RFC 5321 section 4.5.3.1. */
#define LOCAL_MAX	64	/* local-part */
#define DOMAIN_MAX	255	/* domain */
#define ADDR_MAX	256	/* forward-path including the angle brackets */

/* Message limits. */
/* RFC 5322 2.1.1, without CRLF; longer lines are broken on the wire. */
#define TEXT_LINE_MAX	998
#define HEADER_MAX	65536	/* one logical header field, folded lines included */
#define HEADERS_MAX	1000	/* header fields in one message */
#define RCPT_MAX	1000	/* recipients of one message */
#define FULLNAME_MAX	256	/* display name of an added From (-F, GECOS) */

/* SMTP reply limits (REQUIREMENTS S-2). */
#define REPLY_LINE_MAX	2048	/* one reply line; the excess is skipped */
#define REPLY_LINES_MAX	100	/* lines in one reply */
#define REPLY_MAX	65536	/* bytes in one reply */
#define REPLY_TEXT_MAX	512	/* reply text kept for the queue and the log */

/* The aliases file: entries, bytes in one entry, nesting of names. */
#define ALIASES_MAX	10000
#define ALIAS_ENTRY_MAX	65536
#define ALIAS_DEPTH	8

/*
 * Addresses tried for the smart host, and how long each may take to
 * connect (at most "timeout"): an address that does not answer must not
 * hold up the next one for long.
 */
#define HOST_ADDRS_MAX	16
#define CONNECT_MAX	10

/*
 * Hosts tried for one destination: the SRV targets of host auto, or the
 * MX hosts of one domain with host mx; the records beyond are not read.
 */
#define ROUTES_MAX	8

/*
 * The resolver.  Names: 255 bytes on the wire (RFC 1035 2.3.4).  Name
 * servers and search domains that resolv.conf may list (as glibc and
 * musl take them).  An answer over TCP, at most.  All the queries for
 * one name take at most DNS_TIME_MAX seconds, however resolv.conf sets
 * timeout and attempts; CNAME links followed for one name.
 */
#define PATH_RESOLV_CONF	"/etc/resolv.conf"
#define PATH_HOSTS	"/etc/hosts"
#define DNS_NAME_MAX	255
#define DNS_SERVERS_MAX	3
#define DNS_SEARCH_MAX	6
#define DNS_TCP_MAX	65535
#define DNS_TIME_MAX	30
#define DNS_CNAME_MAX	8

/*
 * Runtime configuration file: longest line.  The largest secret: a
 * password, or an OAuth access token from passwordeval (Microsoft's run
 * to about 2.5 KB); RFC 4954 allows AUTH lines of 12288 octets.
 */
#define CONF_LINE_MAX	1024
#define SECRET_MAX	4096

/* One line of an AUTH exchange (RFC 4954 4). */
#define AUTH_LINE_MAX	12288

/* SCRAM messages (user name, nonces, salt, proof): each at most this. */
#define SCRAM_MSG_MAX	1024

/*
 * Most SCRAM iterations (PBKDF2 rounds) we agree to compute: the server
 * picks the count, so this bounds the CPU a hostile server can make us
 * spend: 0.6 s on a current x86-64, seconds on a small router.  RFC 7677
 * sets the minimum, 4096, and servers use that or a few times it.
 */
#define SCRAM_ITER_MAX	1000000

/* Largest PEM file (streamed); Debian's CA bundle is 220 KB. */
#define CAFILE_MAX	(8 * 1024 * 1024)

/* Trust anchors in all, and files read from a capath directory. */
#define ANCHORS_MAX	4096
#define CAPATH_FILES_MAX	4096

/*
 * Certificates of a server's chain kept to name a failure and for -bC,
 * and the largest kept (a leaf with many names is a few KB); a client
 * chain is as long.  Key pins in the configuration.
 */
#define CHAIN_MAX	8
#define CERT_MAX	16384
#define PINS_MAX	16

/* The envelope part of a queue file: recipients and their lines. */
#define ENVELOPE_MAX	(RCPT_MAX * (ADDR_MAX + 8) + 4096)

/* Headers of the original message copied into a bounce. */
#define BOUNCE_HEADERS_MAX	65536

#endif
