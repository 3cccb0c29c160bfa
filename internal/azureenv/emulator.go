package azureenv

// EmulatorAccountName and EmulatorAccountKey are the storage emulator's
// well-known development account: public, documented by Microsoft
// (learn.microsoft.com/azure/storage/common/storage-use-azurite, "Well-known
// storage account and key") and valid only against Azurite. The store needs
// them to expand UseDevelopmentStorage=true; the Azurite launcher to connect.
const (
	EmulatorAccountName = "devstoreaccount1"
	EmulatorAccountKey  = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
