// Package consistency holds only tests. They read the repository's own files
// — internal/config Settings, host.json, functions/*/function.json,
// the handler's function table (handlers.Functions) and the routes its server
// registers, infra/*.bicep and local.settings.sample.json — and fail with the
// exact fix whenever the deployment, the local settings, the function
// bindings and the handler's routes disagree.
//
// The checks are plain functions over file contents (checks_test.go), so
// bite_test.go can prove each one fails on a broken copy of the repository.
package consistency
