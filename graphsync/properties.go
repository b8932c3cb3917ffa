package graphsync

// The properties a full round asks Graph for ($select). Delta tracks exactly these: a change to any
// other property does not bring the object back. "members" makes group delta carry members@delta.
// Without $select Graph sends its default properties, which lack accountEnabled and userType.
var (
	UserProperties = []string{"id", "userPrincipalName", "mail", "otherMails", "givenName", "surname",
		"displayName", "mailNickname", "onPremisesSamAccountName", "userType", "externalUserState", "accountEnabled"}
	GroupProperties = []string{"id", "displayName", "description", "mailNickname", "securityEnabled", "groupTypes", "members"}
)
