package fakegraph

import (
	"math/rand/v2"
	"slices"
	"strconv"
)

// Generate returns a tenant with the given numbers of users, groups and direct memberships, the same
// for the same arguments. About 2 % of users are guests (#EXT# UPN, no given name, mail at another
// domain), 3 % are disabled, 1 % are rooms without mail or names, a third carry an on-premises
// sAMAccountName. The first groups are the Jira/Confluence ones; one in ten groups is a Microsoft
// 365 group. The first fifth of the groups form chains of nestingDepth levels (each a member of the
// one before it); those group-in-group memberships count towards memberships, the rest are user
// memberships, skewed so that the first group holds a tenth of them. 100,000 users, 5,000 groups
// and 1,000,000 memberships take about a second.
func Generate(seed int64, users, groups, memberships, nestingDepth int) *Tenant {
	rng := rand.New(rand.NewPCG(uint64(seed), 0x6372_6f77_6467_6174)) // "crowdgat"
	t := NewTenant()
	users, groups, memberships = max(users, 0), max(groups, 0), max(memberships, 0)

	t.userOrder = make([]string, users)
	for i := range users {
		u := genUser(rng, i)
		t.users[u.ID] = &userRec{User: u, seq: 1}
		t.userOrder[i] = u.ID
	}
	slices.Sort(t.userOrder)

	gids := make([]string, groups)
	for i := range groups {
		g := genGroup(rng, i)
		t.groups[g.ID] = &groupRec{Group: g, seq: 1}
		gids[i] = g.ID
	}
	t.groupOrder = slices.Sorted(slices.Values(gids))

	// Nesting: chains among the first fifth of the groups, gids[k] contains gids[k+1].
	nested := 0
	if nestingDepth > 0 {
		levels := nestingDepth + 1
		for k := 0; k+1 < groups/5 && nested < memberships; k++ {
			if (k+1)%levels != 0 {
				parent := t.groups[gids[k]]
				parent.members = append(parent.members, member{id: gids[k+1], group: true})
				nested++
			}
		}
	}

	// User memberships: group 0 takes a tenth, the rest are spread with ±50 % noise.
	remaining := memberships - nested
	if users > 0 && groups > 0 && remaining > 0 {
		counts := make([]int, groups)
		counts[0] = min(remaining/10, users)
		rest := remaining - counts[0]
		if groups == 1 {
			counts[0] = min(remaining, users)
		} else {
			weights := make([]float64, groups)
			var sum float64
			for j := 1; j < groups; j++ {
				weights[j] = 0.5 + rng.Float64()
				sum += weights[j]
			}
			given := 0
			for j := 1; j < groups; j++ {
				counts[j] = min(int(float64(rest)*weights[j]/sum), users)
				given += counts[j]
			}
			for j := 1; given < rest; j = j%(groups-1) + 1 { // hand out rounding leftovers
				if counts[j] < users {
					counts[j]++
					given++
				} else if !slices.ContainsFunc(counts[1:], func(c int) bool { return c < users }) {
					break
				}
			}
		}
		idx := make([]int, 0, users)
		for j, k := range counts {
			idx = pickDistinct(rng, idx[:0], users, k)
			g := t.groups[gids[j]]
			g.members = slices.Grow(g.members, len(idx))
			for _, x := range idx {
				g.members = append(g.members, member{id: t.userOrder[x]})
			}
		}
	}
	for _, g := range t.groups {
		slices.SortFunc(g.members, func(a, b member) int {
			switch {
			case a.id < b.id:
				return -1
			case a.id > b.id:
				return 1
			}
			return 0
		})
	}
	return t
}

// pickDistinct appends k distinct indices below n: an arithmetic progression modulo n with a step
// coprime to n, so no set is needed. Indices come out sorted.
func pickDistinct(rng *rand.Rand, dst []int, n, k int) []int {
	if k <= 0 || n <= 0 {
		return dst
	}
	start, step := rng.IntN(n), 1+rng.IntN(n)
	for gcd(step, n) != 1 {
		step++
	}
	for i := range k {
		dst = append(dst, (start+i*step)%n)
	}
	slices.Sort(dst)
	return dst
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// newID returns a random version-4 style GUID.
func newID(rng *rand.Rand) string {
	var b [36]byte
	hi, lo := rng.Uint64(), rng.Uint64()
	j := 0
	for i := range 36 {
		switch i {
		case 8, 13, 18, 23:
			b[i] = '-'
			continue
		case 14:
			b[i] = '4'
			continue
		}
		var nib uint64
		if j < 16 {
			nib = hi >> (4 * j) & 0xf
		} else {
			nib = lo >> (4 * (j - 16)) & 0xf
		}
		b[i] = hexDigits[nib]
		j++
	}
	return string(b[:])
}

var (
	givenNames = []string{"Alice", "Bob", "Carol", "Dan", "Erin", "Frank", "Grace", "Heidi", "Ivan", "Judy",
		"Mallory", "Niaj", "Olivia", "Peggy", "Rupert", "Sybil", "Trent", "Victor", "Walter", "Zoë"}
	surnames = []string{"Smith", "Jones", "Müller", "García", "Nguyen", "O'Brien", "Kowalski", "Rossi",
		"Tanaka", "Dubois", "Silva", "Ivanova", "Larsen", "Novak", "Cohen", "Okafor"}
	firstGroups = []string{"jira-software-users", "confluence-users", "jira-administrators", "confluence-administrators"}
)

func genUser(rng *rand.Rand, i int) User {
	n := strconv.Itoa(i)
	given, sur := givenNames[rng.IntN(len(givenNames))], surnames[rng.IntN(len(surnames))]
	u := User{ID: newID(rng), GivenName: given, Surname: sur, DisplayName: given + " " + sur,
		UserPrincipalName: "user" + n + "@contoso.com", Mail: "user" + n + "@contoso.com",
		MailNickname: "user" + n, UserType: "Member", AccountEnabled: true}
	switch r := rng.IntN(100); {
	case r < 2: // guest
		u.UserType, u.GivenName, u.Surname = "Guest", "", ""
		u.UserPrincipalName = "guest" + n + "_fabrikam.com#EXT#@contoso.onmicrosoft.com"
		u.Mail, u.MailNickname = "guest"+n+"@fabrikam.com", "guest"+n+"_fabrikam.com#EXT#"
		u.OtherMails = []string{u.Mail}
		u.DisplayName += " (Fabrikam)"
		u.ExternalUserState = "Accepted"
		if r == 0 && i%2 == 0 {
			u.ExternalUserState = "PendingAcceptance"
		}
	case r < 3: // room or service account
		u.Mail, u.GivenName, u.Surname, u.DisplayName = "", "", "", "Room "+n
		u.AccountEnabled = false
	case r < 6:
		u.AccountEnabled = false
	}
	if u.UserType == "Member" && rng.IntN(3) == 0 {
		u.OnPremisesSamAccountName = "u" + n
	}
	return u
}

func genGroup(rng *rand.Rand, i int) Group {
	name := "grp-" + strconv.Itoa(i)
	if i < len(firstGroups) {
		name = firstGroups[i]
	}
	g := Group{ID: newID(rng), DisplayName: name, MailNickname: name, SecurityEnabled: true,
		Description: "Generated group " + strconv.Itoa(i)}
	if i >= len(firstGroups) && rng.IntN(10) == 0 {
		g.SecurityEnabled, g.MailEnabled, g.GroupTypes = false, true, []string{"Unified"}
	}
	return g
}
