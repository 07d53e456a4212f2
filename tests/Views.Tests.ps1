# Issue 13: every object a user meets has a view, and every column or row the view shows is a property of the object
# (so what is on screen can be selected, filtered and sorted by the name it is shown under).
BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    $img = New-TestVolume -N 12
    $moved = [RegPS.Engine.Registration.AffineMap]::new([RegPS.Engine.Images.Matrix4]::Translation(2, 0, 0), $img.Grid, $img.Grid).Transform($img)
    $affine = Register-AffineImage -Static $img -Moving $moved -Transform Translation -LevelIterations 5, 5, 5, 5
    $syn = Register-SynImage -Static $img -Moving $moved -Prealign $affine -LevelIterations 2
    $chain = [RegPS.Engine.Transforms.TransformChain]::FromMap($syn)
    $g = $img.Grid
    $data = [float[]]::new($g.VoxelCount * 3)
    for ($v = 0; $v -lt 3; $v++) { [Array]::Copy($img.ToArray(), 0, $data, $v * $g.VoxelCount, $g.VoxelCount) }
    $series = Register-ImageSeries -Image ([RegPS.Engine.Images.Image]::new($g, $data, 3)) -Passes 1 -Transform Translation
    $sidecar = [RegPS.Engine.Pipelines.RegistrationSidecar]::new()
    $subject = [RegPS.Engine.Pipelines.SubjectResult]::new('01', '1', '/data/sub-01_ses-1_T1w.nii.gz', 'Registered',
        [string[]] @('/out/a.nii.gz', '/out/a.json'), [timespan]::FromSeconds(3), 'MI 0.5', $null, $sidecar)
    $script:Samples = [ordered] @{
        'RegPS.Engine.Images.Image'                       = $img
        'RegPS.Engine.Images.Grid'                        = $img.Grid
        'RegPS.Engine.Images.Matrix4'                     = $affine.Affine
        'RegPS.Engine.Registration.AffineMap'             = $affine
        'RegPS.Engine.Registration.AffineDecomposition'   = $affine.Decompose()
        'RegPS.Engine.Registration.AffineOptions'         = $affine.Options
        'RegPS.Engine.Registration.DiffeomorphicMap'      = $syn
        'RegPS.Engine.Registration.DisplacementField'     = $syn.Forward
        'RegPS.Engine.Registration.SynOptions'            = $syn.Options
        'RegPS.Engine.Transforms.TransformChain'          = $chain
        'RegPS.Engine.Transforms.AffineStep'              = $chain.Steps[0]
        'RegPS.Engine.Transforms.DisplacementFieldStep'   = $chain.Steps[1]
        'RegPS.Engine.Registration.MotionCorrectionResult' = $series
        'RegPS.Engine.Registration.MotionParameters'      = $series.Parameters[1]
        'RegPS.Engine.Pipelines.SubjectResult'            = $subject
        'RegPS.Engine.Pipelines.RegistrationSidecar'      = $sidecar
        'RegPS.Engine.Pipelines.SidecarParameters'        = $sidecar.Parameters
    }
    function Get-ViewLabels([string] $TypeName) {
        # The names a view shows: table headers (or the property a header-less column shows) and list labels.
        foreach ($view in (Get-FormatData -TypeName $TypeName -PowerShellVersion $PSVersionTable.PSVersion).FormatViewDefinition) {
            $c = $view.Control
            if ($c -is [Management.Automation.TableControl]) {
                for ($i = 0; $i -lt $c.Headers.Count; $i++) {
                    if ($c.Headers[$i].Label) { $c.Headers[$i].Label } else { $c.Rows[0].Columns[$i].DisplayEntry.Value }
                }
            }
            elseif ($c -is [Management.Automation.ListControl]) {
                foreach ($item in $c.Entries[0].Items) { if ($item.Label) { $item.Label } else { $item.DisplayEntry.Value } }
            }
        }
    }
}

Describe 'Views' {
    It 'has a view for <_>' -ForEach @(
        'RegPS.Engine.Images.Image', 'RegPS.Engine.Images.Grid', 'RegPS.Engine.Registration.AffineMap',
        'RegPS.Engine.Registration.AffineDecomposition', 'RegPS.Engine.Registration.AffineOptions', 'RegPS.Engine.Registration.DiffeomorphicMap',
        'RegPS.Engine.Registration.DisplacementField', 'RegPS.Engine.Registration.SynOptions', 'RegPS.Engine.Transforms.TransformChain',
        'RegPS.Engine.Transforms.AffineStep', 'RegPS.Engine.Transforms.DisplacementFieldStep', 'RegPS.Engine.Registration.MotionCorrectionResult',
        'RegPS.Engine.Registration.MotionParameters', 'RegPS.Engine.Pipelines.SubjectResult', 'RegPS.Engine.Pipelines.RegistrationSidecar',
        'RegPS.Engine.Pipelines.SidecarParameters', 'Deserialized.RegPS.Engine.Pipelines.SubjectResult', 'Deserialized.RegPS.Engine.Pipelines.RegistrationSidecar'
    ) {
        Get-FormatData -TypeName $_ -PowerShellVersion $PSVersionTable.PSVersion | Should -Not -BeNullOrEmpty
    }

    It 'shows as columns of <_> only properties the object has' -ForEach @(
        'RegPS.Engine.Images.Image', 'RegPS.Engine.Images.Grid', 'RegPS.Engine.Registration.AffineMap', 'RegPS.Engine.Registration.AffineDecomposition',
        'RegPS.Engine.Registration.AffineOptions', 'RegPS.Engine.Registration.DiffeomorphicMap', 'RegPS.Engine.Registration.DisplacementField',
        'RegPS.Engine.Registration.SynOptions', 'RegPS.Engine.Transforms.TransformChain', 'RegPS.Engine.Transforms.AffineStep',
        'RegPS.Engine.Transforms.DisplacementFieldStep', 'RegPS.Engine.Registration.MotionCorrectionResult', 'RegPS.Engine.Registration.MotionParameters',
        'RegPS.Engine.Pipelines.SubjectResult', 'RegPS.Engine.Pipelines.RegistrationSidecar', 'RegPS.Engine.Pipelines.SidecarParameters'
    ) {
        $sample = $Samples[$_]
        $sample.GetType().FullName | Should -Be $_
        $labels = @(Get-ViewLabels $_)
        $labels.Count | Should -BeGreaterThan 0
        $missing = $labels | Where-Object { $null -eq $sample.PSObject.Properties[$_] }
        $missing | Should -BeNullOrEmpty
        # the properties hold what the view shows: Select-Object on the labels gives values wherever the view shows text
        $row = $sample | Select-Object $labels
        @($row.PSObject.Properties).Count | Should -Be $labels.Count
    }

    It 'renders every view without errors' {
        foreach ($s in $Samples.Values) {
            $text = $s | Out-String -ErrorVariable err
            $err | Should -BeNullOrEmpty
            $text.Trim() | Should -Not -BeNullOrEmpty
        }
    }

    It 'shows a matrix as its four rows (its ToString: PowerShell formats Matrix4 as a value, not with a view)' {
        (Out-String -InputObject $Samples['RegPS.Engine.Images.Matrix4']).Trim() | Should -Match '^\[1 0 0 [-0-9.eE]+; 0 1 0 [-0-9.eE]+; 0 0 1 [-0-9.eE]+; 0 0 0 1\]$'
    }

    It 'shows a BIDS result as a table with its outputs counted' {
        $text = $Samples['RegPS.Engine.Pipelines.SubjectResult'] | Out-String
        $text | Should -Match '01\s+1\s+Registered\s+2 files\s+3\.0 s\s+MI 0\.5'
    }
}
