@{
    RootModule           = 'RegPS.dll'
    ModuleVersion        = '0.1.0'
    GUID                 = '6f3b0d2e-5b7c-4c8e-9a51-2c4f7e1d9b30'
    Author               = 'RegPS developers'
    CompanyName          = 'RegPS'
    Copyright            = '(c) RegPS developers. MIT licence.'
    Description          = 'Image registration for PowerShell: NIfTI and photo I/O, affine (mutual information) and diffeomorphic (SyN, local cross-correlation) registration, stereo overlays and deformation grids, on a parallel C# engine.'
    PowerShellVersion    = '7.6'
    CompatiblePSEditions = @('Core')
    # Loaded before the types file, which names engine types (TargetTypeForDeserialization) and the converter.
    RequiredAssemblies   = @('RegPS.Engine.dll', 'RegPS.dll')
    TypesToProcess       = @('RegPS.Types.ps1xml')
    FormatsToProcess     = @('RegPS.Format.ps1xml')
    CmdletsToExport      = @(
        'Get-NiftiImage', 'Export-NiftiImage', 'Get-PhotoImage', 'Export-PhotoImage', 'Convert-RegImage',
        'Export-StereoOverlay', 'Register-AffineImage', 'Get-RegTemplate',
        'Register-SynImage', 'Invoke-RegTransform', 'Export-RegTransform', 'Import-RegTransform', 'Export-DeformationGrid',
        'Invoke-BidsRegistration', 'New-BidsSlurmJob', 'Get-BidsRegistrationSummary', 'Register-ImageSeries', 'Export-MotionParameters', 'Export-MotionPlot'
    )
    FunctionsToExport    = @()
    AliasesToExport      = @()
    VariablesToExport    = @()
    PrivateData          = @{
        PSData = @{
            Tags       = @('registration', 'neuroimaging', 'nifti', 'mri', 'image', 'dipy', 'ants')
            LicenseUri = 'https://opensource.org/licenses/MIT'
        }
    }
}
