using System.Globalization;
using System.Text;

namespace RegPS.Engine.Templates;

/// <summary>
/// One file of the TemplateFlow archive, named by its BIDS-like entities, as <c>templateflow.api.get</c> takes them:
/// <c>new TemplateQuery("MNI152NLin2009cAsym") { Resolution = 1, Desc = "brain", Suffix = "mask" }</c>.
/// Entity values are checked when they are set (letters and digits only, as TemplateFlow's layout requires), so a bad
/// value fails where the user typed it, not halfway through a download.
/// </summary>
/// <remarks>
/// File names follow the order of the entities in TemplateFlow's layout configuration (the BIDS order):
/// <c>tpl-&lt;template&gt;/[cohort-&lt;c&gt;/]tpl-&lt;template&gt;[_cohort-&lt;c&gt;][_res-&lt;NN&gt;][_atlas-&lt;a&gt;][_label-&lt;l&gt;][_desc-&lt;d&gt;]_&lt;suffix&gt;&lt;extension&gt;</c>,
/// e.g. <c>tpl-MNI152NLin2009cAsym_res-01_atlas-Schaefer2018_desc-100Parcels7Networks_dseg.nii.gz</c>.
/// The resolution index is written with two digits (<c>res-01</c>) except for the templates that the archive names
/// with one (<c>tpl-MNIInfant_cohort-1_res-1_T1w.nii.gz</c>, <c>tpl-MNIPediatricAsym_cohort-5_res-1_T1w.nii.gz</c>);
/// the client also looks for the other spelling, because the Python client matches both (<c>res-0*(\d+)</c>).
/// </remarks>
public sealed record TemplateQuery(string Template)
{
    // Templates whose files spell the resolution index without zero padding (res-1, not res-01).
    private static readonly HashSet<string> UnpaddedResolution = new(StringComparer.Ordinal) { "MNIInfant", "MNIPediatricAsym" };

    private readonly string _template = RequiredTemplate(Template);
    private readonly int? _resolution;
    private readonly string? _cohort, _atlas, _desc, _label;
    private readonly string _suffix = "T1w";
    private readonly string _extension = ".nii.gz";

    /// <summary>Template identifier without the <c>tpl-</c> prefix, e.g. <c>MNI152NLin2009cAsym</c>.</summary>
    public string Template
    {
        get => _template;
        init => _template = RequiredTemplate(value);
    }

    /// <summary>Resolution index (<c>res-</c>), 1 or more; null leaves the entity out of the name.</summary>
    public int? Resolution
    {
        get => _resolution;
        init
        {
            if (value is < 1 or > 999)
                throw new ArgumentOutOfRangeException(nameof(Resolution), value, "The resolution index must be between 1 and 999 (TemplateFlow uses 1 and 2 for most templates).");
            _resolution = value;
        }
    }

    /// <summary>Cohort (<c>cohort-</c>), for templates built per age group, e.g. <c>MNIPediatricAsym</c> cohort 5.</summary>
    public string? Cohort { get => _cohort; init => _cohort = Entity("cohort", value); }

    /// <summary>Atlas (<c>atlas-</c>), e.g. <c>Schaefer2018</c>.</summary>
    public string? Atlas { get => _atlas; init => _atlas = Entity("atlas", value); }

    /// <summary>Description (<c>desc-</c>), e.g. <c>brain</c>; null means the file has no description (Python's <c>desc=None</c>).</summary>
    public string? Desc { get => _desc; init => _desc = Entity("desc", value); }

    /// <summary>Label (<c>label-</c>), e.g. <c>GM</c> for a grey-matter probability map.</summary>
    public string? Label { get => _label; init => _label = Entity("label", value); }

    /// <summary>Suffix, e.g. <c>T1w</c>, <c>T2w</c>, <c>mask</c>, <c>probseg</c>, <c>dseg</c>.</summary>
    public string Suffix
    {
        get => _suffix;
        init => _suffix = Entity("suffix", value) ?? throw new ArgumentException("A suffix is required, e.g. 'T1w' or 'mask'.", nameof(Suffix));
    }

    /// <summary>Extension with its leading dot, e.g. <c>.nii.gz</c>, <c>.nii</c>, <c>.json</c>, <c>.tsv</c>. A value without the dot gets one.</summary>
    public string Extension
    {
        get => _extension;
        init
        {
            if (string.IsNullOrWhiteSpace(value))
                throw new ArgumentException("An extension is required, e.g. '.nii.gz'.", nameof(Extension));
            string ext = value.StartsWith('.') ? value : "." + value;
            // One or more dot-separated alphanumeric parts: .nii.gz, .json, .surf.gii.
            foreach (var part in ext[1..].Split('.'))
                if (part.Length == 0 || !IsAlphanumeric(part))
                    throw new ArgumentException($"Invalid extension '{value}': use dot-separated letters and digits, e.g. '.nii.gz'.", nameof(Extension));
            _extension = ext;
        }
    }

    /// <summary>
    /// The file's path inside the TemplateFlow home and on the archive's storage, with '/' separators:
    /// <c>tpl-MNI152NLin2009cAsym/tpl-MNI152NLin2009cAsym_res-01_T1w.nii.gz</c>.
    /// </summary>
    public string RelativePath => BuildPath(padResolution: !UnpaddedResolution.Contains(Template));

    /// <summary>True when the extension names a NIfTI image, whose content the download checks.</summary>
    public bool IsNifti => Extension is ".nii" or ".nii.gz";

    /// <summary>
    /// The same file with the other spelling of the resolution index (res-1 instead of res-01, or the reverse),
    /// or null when the index has one spelling (no resolution, or 10 and above).
    /// </summary>
    internal string? AlternateRelativePath =>
        Resolution is >= 1 and <= 9 ? BuildPath(padResolution: UnpaddedResolution.Contains(Template)) : null;

    /// <summary>The <c>templateflow.api.get(...)</c> call that fetches the same file with the Python client.</summary>
    public string ToPythonCall()
    {
        var sb = new StringBuilder();
        sb.Append("api.get('").Append(Template).Append('\'');
        // The layout declares cohort as an integer; a numeric cohort is passed as one.
        if (Cohort is not null) sb.Append(", cohort=").Append(Cohort.All(char.IsAsciiDigit) ? Cohort : $"'{Cohort}'");
        if (Resolution is int r) sb.Append(", resolution=").Append(r.ToString(CultureInfo.InvariantCulture));
        if (Atlas is not null) sb.Append(", atlas='").Append(Atlas).Append('\'');
        if (Label is not null) sb.Append(", label='").Append(Label).Append('\'');
        sb.Append(Desc is null ? ", desc=None" : $", desc='{Desc}'");
        sb.Append(", suffix='").Append(Suffix).Append('\'');
        sb.Append(", extension='").Append(Extension).Append("')");
        return sb.ToString();
    }

    public override string ToString() => RelativePath;

    private string BuildPath(bool padResolution)
    {
        var sb = new StringBuilder();
        sb.Append("tpl-").Append(Template).Append('/');
        if (Cohort is not null) sb.Append("cohort-").Append(Cohort).Append('/');
        sb.Append("tpl-").Append(Template);
        if (Cohort is not null) sb.Append("_cohort-").Append(Cohort);
        if (Resolution is int r) sb.Append("_res-").Append(r.ToString(padResolution ? "D2" : "D", CultureInfo.InvariantCulture));
        if (Atlas is not null) sb.Append("_atlas-").Append(Atlas);
        if (Label is not null) sb.Append("_label-").Append(Label);
        if (Desc is not null) sb.Append("_desc-").Append(Desc);
        sb.Append('_').Append(Suffix).Append(Extension);
        return sb.ToString();
    }

    // Null and empty mean "entity absent"; anything else must be letters and digits (TemplateFlow's [a-zA-Z0-9]+),
    // which also keeps path separators, dots and wildcards out of the cache path and the URL.
    private static string? Entity(string entity, string? value)
    {
        if (string.IsNullOrEmpty(value)) return null;
        if (!IsAlphanumeric(value))
            throw new ArgumentException(
                $"Invalid TemplateFlow {entity} '{value}': entity values may contain only the letters A-Z, a-z and the digits 0-9 (no '-', '_', '.', spaces or path separators).",
                entity);
        return value;
    }

    private static string RequiredTemplate(string? value) =>
        Entity("template", value) ?? throw new ArgumentException("A template name is required, e.g. 'MNI152NLin2009cAsym'.", nameof(Template));

    private static bool IsAlphanumeric(string s)
    {
        foreach (char c in s)
            if (!char.IsAsciiLetterOrDigit(c)) return false;
        return true;
    }
}
