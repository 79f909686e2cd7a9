package icloud

// Config is the configuration of the iCloud provider (the
// providers.icloud.* keys): the iCloud Mail servers accounts are checked
// against.
type Config struct {
	IMAPHost string `yaml:"imap_host"`
	IMAPPort int    `yaml:"imap_port"`
	SMTPHost string `yaml:"smtp_host"`
	SMTPPort int    `yaml:"smtp_port"`
}

// DefaultConfig is Apple's iCloud Mail servers.
func DefaultConfig() Config {
	return Config{IMAPHost: "imap.mail.me.com", IMAPPort: 993, SMTPHost: "smtp.mail.me.com", SMTPPort: 587}
}
