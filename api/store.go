package api

import (
	"context"
	"time"

	"github.com/crowdgate/crowdgate/store"
)

// Store is the part of the directory the console uses; *store.Store implements it.
type Store interface {
	// Sign-in and sessions.
	SessionByToken(ctx context.Context, token string) (store.Session, error)
	TouchConsoleSession(ctx context.Context, sess store.Session) (store.Session, error)
	CreateSession(ctx context.Context, ns store.NewSession) (store.Session, string, error)
	DeleteSessionByID(ctx context.Context, id int64) error
	DeleteUserSessions(ctx context.Context, userID int64, exclude string) error
	ListSessions(ctx context.Context, f store.SessionFilter) ([]store.Session, error)
	CountSessions(ctx context.Context, kind string) (int64, error)
	Administrator(ctx context.Context, u store.User) (store.AdminBinding, bool, error)
	// Second factor of local administrators.
	TOTPEnrolled(ctx context.Context, u store.User) (bool, error)
	TOTPSecret(ctx context.Context, u store.User) (string, bool, error)
	StartTOTP(ctx context.Context, u store.User) (string, error)
	ConfirmTOTPCode(ctx context.Context, u store.User, code string) ([]string, error)
	VerifySecondFactor(ctx context.Context, u store.User, code string) error
	ResetTOTP(ctx context.Context, u store.User) error
	LocalAdministratorsWithoutTOTP(ctx context.Context) ([]string, error)
	FailedSignIn(ctx context.Context, action, objectKind, name, reason string)
	SignInThrottled()
	ConsoleCSRFKey(ctx context.Context) ([]byte, error)
	AdminEntraGroups(ctx context.Context) (configured, bound []string, err error)
	SetAdminEntraGroups(ctx context.Context, ids []string) error
	AuthenticateLocal(ctx context.Context, dirs []int64, name, pw string) (store.User, error)

	// Directories and their synchronisation.
	Directories(ctx context.Context) ([]store.Directory, error)
	Directory(ctx context.Context, id int64) (store.Directory, error)
	CreateDirectory(ctx context.Context, d store.Directory) (store.Directory, error)
	UpdateDirectory(ctx context.Context, d store.Directory) (store.Directory, error)
	DirectoryStats(ctx context.Context) (map[int64]store.DirectoryStats, error)
	DirectoryView(ctx context.Context, dirID int64) (*store.View, error)
	SyncState(ctx context.Context, dirID int64) (store.SyncState, error)
	SyncRuns(ctx context.Context, dirID int64, limit int) ([]store.SyncRun, error)

	// Users.
	User(ctx context.Context, id int64) (store.User, error)
	UserByName(ctx context.Context, directoryID int64, name string) (store.User, error)
	UserAttributes(ctx context.Context, userID int64) (map[string][]string, error)
	CreateUser(ctx context.Context, nu store.NewUser) (store.User, error)
	UpdateUser(ctx context.Context, id int64, ch store.UserChange) (store.User, error)
	RenameUser(ctx context.Context, id int64, newName string) (store.User, error)
	SetPassword(ctx context.Context, userID int64, pw string) error

	// Groups and memberships.
	Group(ctx context.Context, id int64) (store.Group, error)
	GroupByName(ctx context.Context, directoryID int64, name string) (store.Group, error)
	GroupAttributes(ctx context.Context, groupID int64) (map[string][]string, error)
	GroupGrants(ctx context.Context, g store.Group) ([]store.GroupGrant, error)
	CreateGroup(ctx context.Context, ng store.NewGroup) (store.Group, error)
	UpdateGroup(ctx context.Context, id int64, ch store.GroupChange) (store.Group, error)
	AddUserToGroup(ctx context.Context, userID, groupID int64) error
	RemoveUserFromGroup(ctx context.Context, userID, groupID int64) error
	AddGroupToGroup(ctx context.Context, childID, parentID int64) error
	RemoveGroupFromGroup(ctx context.Context, childID, parentID int64) error

	// Applications and access.
	Applications(ctx context.Context) ([]store.Application, error)
	Application(ctx context.Context, id int64) (store.Application, error)
	CreateApplication(ctx context.Context, na store.NewApplication) (store.Application, error)
	UpdateApplication(ctx context.Context, id int64, ch store.ApplicationChange) (store.Application, error)
	SetApplicationPassword(ctx context.Context, id int64, pw string) error
	View(ctx context.Context, app store.Application) (*store.View, error)
	Seats(ctx context.Context, app store.Application, inactiveDays int) (store.SeatReport, error)
	SignIns(ctx context.Context, userID int64) (*time.Time, []store.AppSignIn, error)
	AccessReport(ctx context.Context, fn func(store.Access) error) error
	CookieConfig(ctx context.Context) (store.CookieConfig, error)
	SetCookieConfig(ctx context.Context, c store.CookieConfig) error

	// Audit.
	Audit(ctx context.Context, outcome, action, objectKind, object string, details any) error
	ListAudit(ctx context.Context, f store.AuditFilter) ([]store.AuditEntry, error)
}

var _ Store = (*store.Store)(nil)
