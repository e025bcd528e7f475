module github.com/tokenagent/tokenagent

go 1.26

require (
	github.com/BurntSushi/toml v1.6.0 // indirect
	github.com/gorilla/websocket v1.5.3 // indirect
	github.com/miekg/pkcs11 v1.1.2 // indirect
	github.com/stretchr/testify v1.12.1 // indirect
)
