package azurite

import "syscall"

// sysProcAttr puts Azurite in its own process group and has the kernel kill
// it if the test binary dies without calling Stop (e.g. a test timeout).
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
