package provisioning

import "github.com/onemeeting/cvi-onboarding/internal/rejections"

// rejectionsOf is the recorder app.New wires in, on s's store and outbox,
// alerting one operations address.
func rejectionsOf(s *Service) *rejections.Recorder {
	return &rejections.Recorder{Store: s.Store, Outbox: s.Outbox, OpsEmails: []string{"ops@videosrv.net"}, Logger: s.Logger}
}
