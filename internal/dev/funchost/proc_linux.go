package funchost

import "syscall"

// handlerSysProcAttr puts the handler in its own process group (Close signals
// the group) and has the kernel kill it if this process dies without Close.
func handlerSysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
