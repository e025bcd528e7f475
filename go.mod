module github.com/tokenagent/tokenagent

go 1.26

require (
	github.com/BurntSushi/toml v1.6.0
	github.com/ebfe/scard v0.0.0-20241214075232-7af069cabc25
	github.com/gorilla/websocket v1.5.3
	github.com/kardianos/service v1.3.0
	github.com/miekg/pkcs11 v1.1.2
)

require golang.org/x/sys v0.34.0 // indirect
