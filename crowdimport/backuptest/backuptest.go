// Package backuptest writes deterministic Atlassian Crowd XML backups for tests: any number of users
// in every password format crowdgate verifies, nested groups, attributes, a DES-encrypted legacy
// directory, a plain-text one, an LDAP connector's cached users, and applications with directory
// mappings, allowed groups and remote addresses. The same Config always gives the same bytes.
// Users are written as they are generated, so a backup of 100,000 users costs no memory to write.
package backuptest

import (
	"bufio"
	"crypto/des"
	"crypto/md5"
	"crypto/pbkdf2"
	"crypto/sha1"
	"crypto/sha512"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
)

// Password formats of internal users, in the order users cycle through them.
var Formats = []string{"PKCS5S2", "ATLASSIAN-SHA1", "SSHA", "SHA", "MD5", "BCRYPT", "PLAINTEXT"}

// SharedPassword is the password of users whose format is expensive to compute (PKCS5S2, BCRYPT):
// their hash is computed once and shared, so generating 100,000 users stays fast.
const SharedPassword = "Crowd-Shared-Secret-1"

// bcryptShared is bcrypt (cost 4) of SharedPassword, computed once: bcrypt salts are random, and
// this package must be deterministic.
const bcryptShared = "$2a$04$fDeha.i0CfYYYQqhPz.DdedVAinWdc4n6TGrZtr8s7nBTKE0bXRmS"

// Application passwords of the generated applications.
const (
	JiraPassword       = "jira-app-Secret-1"
	ConfluencePassword = "confluence-app-Secret-1"
)

// DESKey is the key of the generated DES directory (Crowd's old "des" encoder).
var DESKey = []byte("crowdDES")

// Crowd directory ids of the generated directories.
const (
	InternalDirID = 32769
	DESDirID      = 32770
	PlainDirID    = 32771
	LDAPDirID     = 65537
)

// Directory names of the generated directories.
const (
	InternalDir = "Crowd Internal Directory"
	DESDir      = "Legacy DES Directory"
	PlainDir    = "Plain Text Directory"
	LDAPDir     = "Corporate LDAP"
)

// Config sizes a generated backup.
type Config struct {
	Users          int    // users of the internal directory
	Groups         int    // "team-NNNN" groups besides the application groups; 0 means max(Users/20, 4)
	DESUsers       int    // users of a directory whose passwords are DES-encrypted; 0: no such directory
	PlaintextUsers int    // users of a directory with Crowd's plaintext encoder; 0: no such directory
	LDAPUsers      int    // cached users of an LDAP connector directory; 0: no such directory
	Seed           uint64 // varies names' external ids and salts
}

func (c Config) groups() int {
	if c.Groups > 0 {
		return c.Groups
	}
	return max(c.Users/20, 4)
}

// UserName is the name of internal user i.
func UserName(i int) string { return fmt.Sprintf("user%06d", i) }

// Format is the password format of internal user i.
func Format(i int) string { return Formats[i%len(Formats)] }

// Password is the password of internal user i.
func Password(i int) string {
	switch Format(i) {
	case "PKCS5S2", "BCRYPT":
		return SharedPassword
	}
	return fmt.Sprintf("pw-%d-S3cret", i)
}

// DESUserName and DESPassword name the users of the DES directory and their passwords.
func DESUserName(i int) string { return fmt.Sprintf("legacy%03d", i) }

// DESPassword is the password of DES user i.
func DESPassword(i int) string { return fmt.Sprintf("legacy-%d-pw", i) }

// PlainUserName is the name of plain-text user i.
func PlainUserName(i int) string { return fmt.Sprintf("plain%03d", i) }

// PlainPassword is the password of plain-text user i.
func PlainPassword(i int) string { return fmt.Sprintf("plain-%d-pw", i) }

// TeamName is the name of team group k.
func TeamName(k int) string { return fmt.Sprintf("team-%04d", k) }

// TeamParent returns the team group k is nested in (k%4 == 0, k > 0), or -1.
func TeamParent(k int) int {
	if k > 0 && k%4 == 0 {
		return k / 4
	}
	return -1
}

// UserTeams returns the team groups internal user i is a direct member of.
func (c Config) UserTeams(i int) []int {
	g := c.groups()
	out := []int{i % g}
	if j := (i*7 + 3) % g; i%2 == 0 && j != out[0] {
		out = append(out, j)
	}
	return out
}

// UserAppGroups returns the application groups internal user i is a direct member of.
func UserAppGroups(i int) []string {
	var out []string
	if i%50 == 0 {
		out = append(out, "jira-administrators")
	}
	if i%10 == 0 {
		out = append(out, "confluence-users")
	}
	return out
}

// Active reports whether internal user i is active.
func Active(i int) bool { return i%97 != 1 }

// Summary counts what Generate wrote.
type Summary struct {
	Users, Groups, UserMemberships, GroupMemberships, Applications int
}

// Generate writes the backup described by c to w.
func Generate(w io.Writer, c Config) (Summary, error) {
	g := &gen{w: bufio.NewWriterSize(w, 1<<16), c: c, rng: rand.New(rand.NewPCG(c.Seed, 0x63726f7764))}
	g.write()
	if g.err == nil {
		g.err = g.w.Flush()
	}
	return g.sum, g.err
}

type gen struct {
	w   *bufio.Writer
	c   Config
	rng *rand.Rand
	err error
	sum Summary
	id  int64

	pkcsShared string
	history    string
}

func (g *gen) printf(format string, args ...any) {
	if g.err == nil {
		_, g.err = fmt.Fprintf(g.w, format, args...)
	}
}

// el writes <name>text</name> with the text escaped.
func (g *gen) el(indent, name, text string) {
	var b strings.Builder
	xml.EscapeText(&b, []byte(text))
	g.printf("%s<%s>%s</%s>\n", indent, name, b.String(), name)
}

func (g *gen) nextID() int64 { g.id++; return g.id }

func (g *gen) uuid() string {
	a, b := g.rng.Uint64(), g.rng.Uint64()
	return fmt.Sprintf("%08x-%04x-4%03x-a%03x-%012x", a>>32, a>>16&0xffff, a&0xfff, b>>52&0xfff, b&0xffffffffffff)
}

const date = "Mon Jan 15 09:30:00 +0000 2024"

func (g *gen) write() {
	g.printf("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\n<crowd>\n")
	g.printf("  <properties>\n    <property>\n      <key>crowd</key>\n      <name>build.number</name>\n      <value>1891</value>\n    </property>\n  </properties>\n")
	g.printf("  <directories>\n")
	g.directory(InternalDirID, InternalDir, "INTERNAL", "com.atlassian.crowd.directory.InternalDirectory", "atlassian-security")
	if g.c.DESUsers > 0 {
		g.directory(DESDirID, DESDir, "INTERNAL", "com.atlassian.crowd.directory.InternalDirectory", "des")
	}
	if g.c.PlaintextUsers > 0 {
		g.directory(PlainDirID, PlainDir, "INTERNAL", "com.atlassian.crowd.directory.InternalDirectory", "plaintext")
	}
	if g.c.LDAPUsers > 0 {
		g.directory(LDAPDirID, LDAPDir, "CONNECTOR", "com.atlassian.crowd.directory.OpenLDAP", "")
	}
	g.printf("  </directories>\n  <users>\n")
	for i := 0; i < g.c.Users && g.err == nil; i++ {
		attrs := [][2]string{{"synch.department", []string{"Engineering", "Sales", "Support", "Finance", "Légal"}[i%5]},
			{"lastAuthenticated", fmt.Sprint(1700000000000 + int64(i)*1000)}}
		if i%3 == 0 {
			attrs = append(attrs, [2]string{"synch.roles", "reviewer"}, [2]string{"synch.roles", "author"})
		}
		first, last := fmt.Sprintf("First%d", i), fmt.Sprintf("Last & %d", i)
		display := ""
		if i%4 != 0 {
			display = first + " " + last
		}
		g.user(InternalDirID, UserName(i), first, last, display, UserName(i)+"@example.com", Active(i), g.credential(i), i%10 == 0, attrs)
	}
	for i := 0; i < g.c.DESUsers; i++ {
		cred, err := encryptDES(DESPassword(i), DESKey)
		if err != nil && g.err == nil {
			g.err = err
		}
		g.user(DESDirID, DESUserName(i), "Legacy", fmt.Sprint(i), "", DESUserName(i)+"@example.com", true, cred, false, nil)
	}
	for i := 0; i < g.c.PlaintextUsers; i++ {
		g.user(PlainDirID, PlainUserName(i), "Plain", fmt.Sprint(i), "", PlainUserName(i)+"@example.com", true, PlainPassword(i), false, nil)
	}
	for i := 0; i < g.c.LDAPUsers; i++ {
		name := fmt.Sprintf("ldapuser%04d", i)
		g.user(LDAPDirID, name, "Ldap", fmt.Sprint(i), "", name+"@corp.example.com", true, "", false, nil)
	}
	g.printf("  </users>\n  <groups>\n")
	for _, name := range []string{"jira-software-users", "jira-administrators", "confluence-users"} {
		g.group(InternalDirID, name, "Application access: "+name, [][2]string{{"synch.owner", "it"}})
	}
	for k := 0; k < g.c.groups(); k++ {
		var attrs [][2]string
		if k%5 == 0 {
			attrs = [][2]string{{"synch.cost-centre", fmt.Sprintf("CC-%03d", k)}}
		}
		g.group(InternalDirID, TeamName(k), fmt.Sprintf("Team %d", k), attrs)
	}
	if g.c.DESUsers > 0 {
		g.group(DESDirID, "legacy-users", "", nil)
	}
	if g.c.LDAPUsers > 0 {
		g.group(LDAPDirID, "ldap-staff", "From LDAP", nil)
	}
	g.printf("  </groups>\n  <memberships>\n")
	g.member(InternalDirID, "jira-software-users", "jira-administrators", true)
	g.member(InternalDirID, "jira-software-users", TeamName(0), true)
	for k := 1; k < g.c.groups(); k++ {
		if p := TeamParent(k); p >= 0 {
			g.member(InternalDirID, TeamName(p), TeamName(k), true)
		}
	}
	for i := 0; i < g.c.Users && g.err == nil; i++ {
		for _, k := range g.c.UserTeams(i) {
			g.member(InternalDirID, TeamName(k), UserName(i), false)
		}
		for _, a := range UserAppGroups(i) {
			g.member(InternalDirID, a, UserName(i), false)
		}
	}
	for i := 0; i < g.c.DESUsers; i++ {
		g.member(DESDirID, "legacy-users", DESUserName(i), false)
	}
	for i := 0; i < g.c.LDAPUsers; i++ {
		g.member(LDAPDirID, "ldap-staff", fmt.Sprintf("ldapuser%04d", i), false)
	}
	g.printf("  </memberships>\n  <applications>\n")
	g.application("crowd", "CROWD", "Crowd Console", g.pkcs5s2("crowd-console", 0), nil, nil)
	jiraMaps := []mapping{{dir: InternalDirID, groups: []string{"jira-software-users", "jira-administrators"}, ops: allOps}}
	confMaps := []mapping{{dir: InternalDirID, groups: []string{"confluence-users"}, ops: []string{"UPDATE_USER_ATTRIBUTE", "UPDATE_GROUP_ATTRIBUTE"}}}
	if g.c.DESUsers > 0 {
		jiraMaps = append(jiraMaps, mapping{dir: DESDirID, allowAll: true})
	}
	if g.c.LDAPUsers > 0 {
		jiraMaps = append(jiraMaps, mapping{dir: LDAPDirID, allowAll: true, ops: []string{"CREATE_ROLE", "UPDATE_USER"}})
	}
	g.application("jira", "JIRA", "Jira Software", g.pkcs5s2(JiraPassword, 1), jiraMaps,
		[]string{"10.20.30.40", "192.168.10.0/24", "jira.example.com", "127.0.0.1"})
	g.application("confluence", "CONFLUENCE", "Confluence", g.pkcs5s2(ConfluencePassword, 2), confMaps, []string{"10.20.30.41"})
	g.application("bamboo", "GENERIC_APPLICATION", "Build server", "dGhpcyBpcyBub3QgYSBoYXNo", []mapping{{dir: InternalDirID, allowAll: true}}, nil)
	g.printf("  </applications>\n  <tokens>\n    <token>\n      <id>%d</id>\n      <name>user000000</name>\n      <randomHash>abc</randomHash>\n    </token>\n  </tokens>\n</crowd>\n", g.nextID())
}

var allOps = []string{"CREATE_GROUP", "CREATE_USER", "DELETE_GROUP", "DELETE_USER", "UPDATE_GROUP", "UPDATE_USER",
	"UPDATE_GROUP_ATTRIBUTE", "UPDATE_USER_ATTRIBUTE"}

func (g *gen) directory(id int64, name, typ, class, encoder string) {
	g.head("directory", id, name, true)
	g.el("      ", "description", name)
	g.printf("      <type>%s</type>\n      <implementationClass>%s</implementationClass>\n", typ, class)
	g.printf("      <allowedOperations>\n")
	for _, op := range allOps {
		g.printf("        <allowedOperation>%s</allowedOperation>\n", op)
	}
	g.printf("      </allowedOperations>\n      <attributes>\n")
	attrs := [][2]string{{"useNestedGroups", "true"}, {"password_max_attempts", "5"}, {"password_history_count", "0"}}
	if encoder != "" {
		attrs = append(attrs, [2]string{"user_encryption_method", encoder})
	}
	g.attrs("        ", attrs)
	g.printf("      </attributes>\n    </directory>\n")
}

// head opens an entity element with the fields every entity starts with.
func (g *gen) head(elem string, id int64, name string, active bool) {
	g.printf("    <%s>\n      <id>%d</id>\n", elem, id)
	g.el("      ", "name", name)
	g.printf("      <createdDate>%s</createdDate>\n      <updatedDate>%s</updatedDate>\n      <active>%t</active>\n", date, date, active)
}

func (g *gen) attrs(indent string, attrs [][2]string) {
	for _, a := range attrs {
		g.printf("%s<attribute>\n", indent)
		g.el(indent+"  ", "name", a[0])
		g.el(indent+"  ", "value", a[1])
		g.printf("%s</attribute>\n", indent)
	}
}

func (g *gen) user(dir int64, name, first, last, display, email string, active bool, cred string, history bool, attrs [][2]string) {
	g.sum.Users++
	g.head("user", g.nextID(), name, active)
	g.el("      ", "firstName", first)
	g.el("      ", "lastName", last)
	g.el("      ", "displayName", display)
	g.el("      ", "email", email)
	g.printf("      <directoryId>%d</directoryId>\n", dir)
	g.el("      ", "credential", cred)
	g.printf("      <credentialHistory>\n")
	if history {
		if g.history == "" {
			g.history = g.pkcs5s2("an-older-password", 3)
		}
		g.el("        ", "credential", g.history)
	}
	g.printf("      </credentialHistory>\n      <attributes>\n")
	g.attrs("        ", attrs)
	g.printf("      </attributes>\n")
	g.el("      ", "externalId", g.uuid())
	g.printf("    </user>\n")
}

func (g *gen) group(dir int64, name, desc string, attrs [][2]string) {
	g.sum.Groups++
	g.head("group", g.nextID(), name, true)
	g.el("      ", "description", desc)
	g.printf("      <type>GROUP</type>\n      <local>false</local>\n      <directoryId>%d</directoryId>\n      <attributes>\n", dir)
	g.attrs("        ", attrs)
	g.printf("      </attributes>\n    </group>\n")
}

func (g *gen) member(dir int64, parent, child string, nested bool) {
	typ := "GROUP_USER"
	if nested {
		typ = "GROUP_GROUP"
		g.sum.GroupMemberships++
	} else {
		g.sum.UserMemberships++
	}
	g.printf("    <membership>\n      <id>%d</id>\n", g.nextID())
	g.el("      ", "parentName", parent)
	g.el("      ", "childName", child)
	g.printf("      <membershipType>%s</membershipType>\n      <groupType>GROUP</groupType>\n      <directoryId>%d</directoryId>\n    </membership>\n", typ, dir)
}

type mapping struct {
	dir      int64
	allowAll bool
	groups   []string
	ops      []string
}

func (g *gen) application(name, typ, desc, cred string, maps []mapping, addrs []string) {
	g.sum.Applications++
	g.head("application", g.nextID(), name, true)
	g.el("      ", "description", desc)
	g.printf("      <type>%s</type>\n", typ)
	g.el("      ", "credential", cred)
	g.printf("      <attributes>\n")
	g.attrs("        ", [][2]string{{"atlassian_sha1_applied", "true"}, {"lowerCaseOutput", "false"}, {"aliasingEnabled", "false"}})
	g.printf("      </attributes>\n      <directoryMappings>\n")
	for _, m := range maps {
		g.printf("        <directoryMapping>\n          <directoryId>%d</directoryId>\n          <allowAllToAuthenticate>%t</allowAllToAuthenticate>\n          <groupMappings>\n", m.dir, m.allowAll)
		for _, gr := range m.groups {
			g.printf("            <groupMapping>\n")
			g.el("              ", "groupName", gr)
			g.printf("            </groupMapping>\n")
		}
		g.printf("          </groupMappings>\n          <allowedOperations>\n")
		for _, op := range m.ops {
			g.printf("            <allowedOperation>%s</allowedOperation>\n", op)
		}
		g.printf("          </allowedOperations>\n        </directoryMapping>\n")
	}
	g.printf("      </directoryMappings>\n      <remoteAddresses>\n")
	for _, a := range addrs {
		g.printf("        <remoteAddress>\n")
		g.el("          ", "address", a)
		g.printf("        </remoteAddress>\n")
	}
	g.printf("      </remoteAddresses>\n    </application>\n")
}

// credential returns internal user i's credential in its format.
func (g *gen) credential(i int) string {
	pw := Password(i)
	switch Format(i) {
	case "PKCS5S2":
		if g.pkcsShared == "" {
			g.pkcsShared = g.pkcs5s2(SharedPassword, 4)
		}
		return g.pkcsShared
	case "ATLASSIAN-SHA1":
		return AtlassianSHA1(pw)
	case "SSHA":
		salt := make([]byte, 8)
		for j := range salt {
			salt[j] = byte(g.rng.Uint32())
		}
		return SSHA(pw, salt)
	case "SHA":
		h := sha1.Sum([]byte(pw))
		return "{SHA}" + base64.StdEncoding.EncodeToString(h[:])
	case "MD5":
		h := md5.Sum([]byte(pw))
		return "{MD5}" + base64.StdEncoding.EncodeToString(h[:])
	case "BCRYPT":
		return bcryptShared
	case "PLAINTEXT":
		return "{PLAINTEXT}" + pw
	}
	panic("backuptest: unknown format " + Format(i))
}

// pkcs5s2 hashes pw as Crowd's atlassian-security encoder, with a salt fixed by n.
func (g *gen) pkcs5s2(pw string, n byte) string {
	s, err := PKCS5S2(pw, []byte(fmt.Sprintf("crowdgate-salt-%c", 'a'+n)))
	if err != nil && g.err == nil {
		g.err = err
	}
	return s
}

// PKCS5S2 is Crowd's atlassian-security encoding of pw with a 16-byte salt.
func PKCS5S2(pw string, salt []byte) (string, error) {
	if len(salt) != 16 {
		return "", fmt.Errorf("backuptest: PKCS5S2 salt must have 16 bytes, not %d", len(salt))
	}
	key, err := pbkdf2.Key(sha1.New, pw, salt, 10000, 32)
	if err != nil {
		return "", err
	}
	return "{PKCS5S2}" + base64.StdEncoding.EncodeToString(append(append([]byte{}, salt...), key...)), nil
}

// AtlassianSHA1 is Crowd's legacy atlassian-sha1 value: base64(SHA-512(pw)), unmarked.
func AtlassianSHA1(pw string) string {
	h := sha512.Sum512([]byte(pw))
	return base64.StdEncoding.EncodeToString(h[:])
}

// SSHA is the LDAP {SSHA} value: base64(SHA-1(pw || salt) || salt).
func SSHA(pw string, salt []byte) string {
	h := sha1.New()
	h.Write([]byte(pw))
	h.Write(salt)
	return "{SSHA}" + base64.StdEncoding.EncodeToString(append(h.Sum(nil), salt...))
}

// encryptDES is Crowd's DESPasswordEncoder: base64(DES/ECB/PKCS5Padding(UTF-8 password)).
func encryptDES(plain string, key []byte) (string, error) {
	block, err := des.NewCipher(key)
	if err != nil {
		return "", fmt.Errorf("backuptest: DES key: %w", err)
	}
	pad := des.BlockSize - len(plain)%des.BlockSize
	in := append([]byte(plain), strings.Repeat(string(rune(pad)), pad)...)
	out := make([]byte, len(in))
	for i := 0; i < len(in); i += des.BlockSize {
		block.Encrypt(out[i:i+des.BlockSize], in[i:i+des.BlockSize])
	}
	return base64.StdEncoding.EncodeToString(out), nil
}

// EncryptDES exposes encryptDES for hand-written fixtures.
func EncryptDES(plain string, key []byte) (string, error) { return encryptDES(plain, key) }
