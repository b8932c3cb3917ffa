package saml

import (
	"bytes"
	"html/template"
	"net/http"
)

// pages are the few HTML pages the sign-in shows. They carry no script; the CSP of
// securityHeaders forbids it anyway.
var pages = template.Must(template.New("layout").Parse(`{{define "head"}}<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}} – crowdgate</title>
<style>body{font-family:system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem;color:#172b4d}
h1{font-size:1.4rem}p{line-height:1.5}.box{border:1px solid #dfe1e6;border-radius:6px;padding:1.5rem}
label{display:block;margin:.8rem 0 .2rem}input[type=text],input[type=password]{width:100%;padding:.4rem;box-sizing:border-box}
button{margin-top:1rem;padding:.5rem 1.2rem}.err{color:#bf2600}</style></head><body><div class="box">{{end}}
{{define "foot"}}</div></body></html>{{end}}
{{define "message"}}{{template "head" .}}<h1>{{.Title}}</h1><p>{{.Message}}</p>
{{if .Link}}<p><a href="{{.Link}}">{{.LinkText}}</a></p>{{end}}{{template "foot" .}}{{end}}
{{define "breakglass"}}{{template "head" .}}<h1>{{.Title}}</h1>
<p>Emergency sign-in with a local password, for administrators when the identity provider is unavailable. Every attempt is recorded.</p>
{{if .Message}}<p class="err">{{.Message}}</p>{{end}}
<form method="post" action="{{.Action}}">
<input type="hidden" name="csrf" value="{{.CSRF}}"><input type="hidden" name="app" value="{{.App}}"><input type="hidden" name="dest" value="{{.Dest}}">
<label for="u">User name</label><input id="u" type="text" name="username" autocomplete="username" required>
<label for="p">Password</label><input id="p" type="password" name="password" autocomplete="current-password" required>
<label for="c">Code (authenticator app or recovery code, if you have one)</label><input id="c" type="text" name="code" inputmode="numeric" autocomplete="one-time-code">
<button type="submit">Sign in</button></form>{{template "foot" .}}{{end}}`))

type pageData struct {
	Title    string
	Message  string
	Link     string
	LinkText string
	// break-glass form
	Action string
	CSRF   string
	App    string
	Dest   string
	// logout confirmation
	Fields []hiddenField
}

// render writes a page; a template failure is a programming error and answers 500.
func render(w http.ResponseWriter, status int, name string, d pageData) {
	var buf bytes.Buffer
	if err := pages.ExecuteTemplate(&buf, name, d); err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}
