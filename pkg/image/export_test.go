package image

// testCopier is the Copier of testOptions. pkg/image/transfer imports this
// package, so these tests cannot; transfer_test.go, an external test file
// in the same test binary, sets it.
var testCopier Copier

// SetTestCopier sets the Copier of testOptions.
func SetTestCopier(c Copier) { testCopier = c }
