BeforeDiscovery {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    $script:Cmdlets = Get-Command -Module RegPS -CommandType Cmdlet | ForEach-Object { @{ Name = $_.Name } }
}

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    $script:Common = [System.Management.Automation.Cmdlet]::CommonParameters + [System.Management.Automation.Cmdlet]::OptionalCommonParameters
}

Describe 'The RegPS module' {
    It 'exports the cmdlets its manifest lists' {
        $manifest = Import-PowerShellDataFile (Join-Path $ModuleDir 'RegPS.psd1')
        $exported = (Get-Command -Module RegPS -CommandType Cmdlet).Name | Sort-Object
        $exported | Should -Be ($manifest.CmdletsToExport | Sort-Object)
        $manifest.CmdletsToExport | Should -Contain 'Get-NiftiImage'
        $manifest.CmdletsToExport | Should -Contain 'Export-StereoOverlay'
    }

    It 'lays the SkiaSharp and HarfBuzz native libraries out per platform beside the assemblies' {
        foreach ($rid in 'linux-x64', 'linux-arm64', 'osx-x64', 'osx-arm64', 'win-x64', 'win-arm64') {
            $ext = switch -Wildcard ($rid) { 'linux*' { 'so' } 'osx*' { 'dylib' } default { 'dll' } }
            foreach ($lib in 'libSkiaSharp', 'libHarfBuzzSharp') { Join-Path $ModuleDir "$rid/$lib.$ext" | Should -Exist }
        }
        Join-Path $ModuleDir 'ScottPlot.dll' | Should -Exist
        Join-Path $ModuleDir 'fonts/DejaVuSansMono.ttf' | Should -Exist   # the plot's and the titles' font (no system fonts needed)
    }

    It 'ships its sample data with provenance' {
        Join-Path $Samples 'README.md' | Should -Exist
        Join-Path $Samples 'KmeansTest_T1UCharRaw.nii.gz' | Should -Exist
        (Get-ChildItem $Samples -File | Measure-Object Length -Sum).Sum | Should -BeLessThan 5MB
    }

    It 'shows an image as one row with shape, voxel size, orientation and data type' {
        $img = Get-NiftiImage (Join-Path $Samples 'KmeansTest_T1UCharRaw.nii.gz')
        $text = ($img | Format-Table | Out-String)
        $text | Should -Match 'KmeansTest_T1UCharRaw.nii.gz'
        $text | Should -Match '128x128x62'
        $text | Should -Match '2x2x3'
        $text | Should -Match 'LSA'
        $text | Should -Match 'int16'
    }
}

Describe 'Help for <Name>' -ForEach $Cmdlets {
    BeforeAll {
        $help = Get-Help $Name -Full
        $cmd = Get-Command $Name
    }

    It 'has a synopsis and a description' {
        $help.Synopsis | Should -Not -BeNullOrEmpty
        $help.Synopsis | Should -Not -Match "^\s*$Name\s"
        ($help.description | Out-String).Trim() | Should -Not -BeNullOrEmpty
    }

    It 'describes every parameter' {
        foreach ($p in $cmd.Parameters.Keys | Where-Object { $_ -notin $Common }) {
            $ph = $help.parameters.parameter | Where-Object name -EQ $p
            $ph | Should -Not -BeNullOrEmpty -Because "-$p needs help"
            ($ph.description | Out-String).Trim() | Should -Not -BeNullOrEmpty -Because "-$p needs a description"
        }
    }

    It 'has at least one example whose code parses' {
        @($help.examples.example).Count | Should -BeGreaterThan 0
        foreach ($ex in $help.examples.example) {
            $errors = $null
            $null = [System.Management.Automation.Language.Parser]::ParseInput($ex.code, [ref] $null, [ref] $errors)
            $errors | Should -BeNullOrEmpty -Because "the example of $Name must be valid PowerShell"
        }
    }

    It 'declares its output type' {
        $cmd.OutputType | Should -Not -BeNullOrEmpty
    }
}
