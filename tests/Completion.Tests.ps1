# Issue 13: tab completion of TemplateFlow names and entities, as a user presses Tab (TabExpansion2).
BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    function Get-Completions([string] $Line) {
        (TabExpansion2 -inputScript $Line -cursorColumn $Line.Length).CompletionMatches.CompletionText
    }
    # A TemplateFlow cache as the Python client and Get-RegTemplate lay it out (file contents do not matter here).
    $script:TfHome = Join-Path $TestDrive 'templateflow'
    $mni = Join-Path $TfHome 'tpl-MNI152NLin2009cAsym'
    $nki = Join-Path $TfHome 'tpl-NKI'
    $null = New-Item -ItemType Directory -Force $mni, $nki, (Join-Path $TfHome 'tpl-MyLab')
    foreach ($f in 'tpl-MNI152NLin2009cAsym_res-01_T1w.nii.gz', 'tpl-MNI152NLin2009cAsym_res-01_desc-brain_mask.nii.gz',
        'tpl-MNI152NLin2009cAsym_res-02_atlas-Schaefer2018_desc-400Parcels17Networks_dseg.nii.gz',
        'tpl-MNI152NLin2009cAsym_res-01_label-CSF_probseg.nii.gz') {
        $null = New-Item -ItemType File (Join-Path $mni $f)
    }
    '{"Name": "test", "res": {"01": {"zooms": [1, 1, 1]}, "02": {"zooms": [2, 2, 2]}, "03": {"zooms": [3, 3, 3]}}}' |
        Set-Content (Join-Path $mni 'template_description.json')
    $null = New-Item -ItemType File (Join-Path $nki 'tpl-NKI_res-04_desc-skullstrip_T2star.nii.gz')
    $script:Cmd = "Get-RegTemplate -TemplateFlowHome '$TfHome'"
}

Describe 'TemplateFlow completion' {
    It 'completes template names: the known ones and the cached ones' {
        Get-Completions "$Cmd -Name MNI152NLin2009c" | Should -Be @('MNI152NLin2009cAsym', 'MNI152NLin2009cSym')
        Get-Completions "$Cmd -Name My" | Should -Be 'MyLab'
    }

    It 'completes -Resolution from the cached files and the template description, as numbers' {
        Get-Completions "$Cmd -Name MNI152NLin2009cAsym -Resolution " | Should -Be @('1', '2', '3')
        Get-Completions "$Cmd -Name NKI -Resolution " | Should -Be '4'
    }

    It 'completes -Suffix and -Desc from the cache of that template, with the common values' {
        $suffixes = Get-Completions "$Cmd -Name MNI152NLin2009cAsym -Suffix "
        foreach ($s in 'T1w', 'mask', 'dseg', 'probseg', 'T2w') { $suffixes | Should -Contain $s }
        $suffixes | Should -Not -Contain 'T2star'   # NKI's, not this template's
        Get-Completions "$Cmd -Name NKI -Suffix T2" | Should -Be @('T2star', 'T2w')
        $descs = Get-Completions "$Cmd -Name MNI152NLin2009cAsym -Desc "
        foreach ($d in 'brain', '400Parcels17Networks', 'head') { $descs | Should -Contain $d }
        Get-Completions "$Cmd -Name NKI -Desc sk" | Should -Be 'skullstrip'
    }

    It 'completes -Atlas and -Label from the cache' {
        Get-Completions "$Cmd -Name MNI152NLin2009cAsym -Atlas " | Should -Be 'Schaefer2018'
        Get-Completions "$Cmd -Name MNI152NLin2009cAsym -Label " | Should -Be 'CSF'
    }

    It 'completes Invoke-BidsRegistration -TemplateName' {
        Get-Completions 'Invoke-BidsRegistration -TemplateName MNI152NLin6' | Should -Be @('MNI152NLin6Asym', 'MNI152NLin6Sym')
    }
}
