using System.Management.Automation;
using RegPS.Engine.Pipelines;
using RegPS.Engine.Registration;

namespace RegPS;

/// <summary>
/// The parameters of a run over a BIDS dataset that Invoke-BidsRegistration takes and New-BidsSlurmJob hands on to it:
/// the inputs, the template's name, the derivatives folder and the registration settings. Declared once, so the two
/// cmdlets cannot drift apart.
/// </summary>
public abstract class BidsDatasetCmdlet : RegCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ParameterSetName = "Path", ValueFromPipeline = true)]
    [SupportsWildcards]
    public string[] Path { get; set; } = Array.Empty<string>();

    [Parameter(Mandatory = true, ParameterSetName = "LiteralPath", ValueFromPipelineByPropertyName = true)]
    [Alias("PSPath", "LP")]
    public string[] LiteralPath { get; set; } = Array.Empty<string>();

    [Parameter(Mandatory = true)]
    [ValidatePattern("^[a-zA-Z0-9]+$")]
    [ArgumentCompleter(typeof(Completers.TemplateNameCompleter))]
    public string TemplateName { get; set; } = "";

    [Parameter(Mandatory = true)]
    [ValidateNotNullOrEmpty]
    public string OutputRoot { get; set; } = "";

    [Parameter]
    public RegistrationMode Mode { get; set; } = RegistrationMode.Syn;

    /// <summary>SyN iterations per level, coarsest first.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public int[]? LevelIterations { get; set; }

    /// <summary>The SyN settings to start from: RegPS's default or DIPY's (as Register-SynImage -Preset).</summary>
    [Parameter]
    public SynPreset SynPreset { get; set; } = SynPreset.Default;

    /// <summary>Affine function evaluations per level, coarsest first (1 to 4 levels of the 8, 4, 2, 1 pyramid).</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    [ValidateCount(1, 4)]
    public int[]? AffineLevelIterations { get; set; }

    /// <summary>Also write the RegPS manifest with separate ANTs parts (affine .mat, warp and inverse warp .nii.gz).</summary>
    [Parameter]
    public SwitchParameter AntsParts { get; set; }
}
