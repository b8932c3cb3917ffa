package samltest

// The users the SAML tests and the end-to-end journey share: in those tests alice may use Jira and
// bob may not; both exist at the IdP and, with their object ids as external ids, in crowdgate's
// AZURE_AD directory.
var (
	Alice = EntraUser{UPN: "alice@example.com", ObjectID: "6b3f4a2e-0c1d-4e5f-8a9b-0c1d2e3f4a5b", Email: "alice@example.com",
		GivenName: "Alice", Surname: "Adams", DisplayName: "Alice Adams"}
	Bob = EntraUser{UPN: "bob@example.com", ObjectID: "7c4e5b3f-1d2e-4f6a-9b0c-1d2e3f4a5b6c", Email: "bob@example.com",
		GivenName: "Bob", Surname: "Brown", DisplayName: "Bob Brown"}
)
