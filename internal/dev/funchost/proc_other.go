//go:build !linux

package funchost

import "syscall"

// handlerSysProcAttr puts the handler in its own process group (Close signals the group).
func handlerSysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
