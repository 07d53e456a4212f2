using RegPS.Engine.TransformFiles;

namespace RegPS.Engine.Pipelines;

/// <summary>How a subject is registered to the template: affine only, or affine then SyN (the affine as prealign).</summary>
public enum RegistrationMode
{
    Affine,
    Syn,
}

/// <summary>
/// The BIDS-derivatives file names of one input, all under the output root:
/// sub-XX[/ses-YY]/anat/ holds the image on the template grid, its JSON sidecar and the transforms as fMRIPrep names
/// them, one ITK HDF5 composite per direction (..._from-T1w_to-&lt;template&gt;_mode-image_xfm.h5 and
/// ..._from-&lt;template&gt;_to-T1w_mode-image_xfm.h5), plus, only when asked, a RegPS manifest with separate ANTs parts;
/// sub-XX/figures/ holds the QC pictures. Every name keeps the input's entities (sub, ses, acq, rec, run...).
/// </summary>
public sealed class SubjectOutputs
{
    private SubjectOutputs(string root, BidsName name, string anat, string figures, string image, string sidecar,
        string transform, string inverseTransform, string? manifest, IReadOnlyList<string> transformParts, string overlay, string? grid)
    {
        Root = root;
        Name = name;
        AnatDirectory = anat;
        FiguresDirectory = figures;
        Image = image;
        Sidecar = sidecar;
        Transform = transform;
        InverseTransform = inverseTransform;
        Manifest = manifest;
        TransformParts = transformParts;
        Overlay = overlay;
        Grid = grid;
    }

    /// <summary>The derivatives root (full path).</summary>
    public string Root { get; }

    /// <summary>The parsed input name.</summary>
    public BidsName Name { get; }

    /// <summary>&lt;root&gt;/sub-XX[/ses-YY]/anat.</summary>
    public string AnatDirectory { get; }

    /// <summary>&lt;root&gt;/sub-XX/figures.</summary>
    public string FiguresDirectory { get; }

    /// <summary>..._space-&lt;template&gt;_desc-preproc_&lt;suffix&gt;.nii.gz: the input on the template grid, float32.</summary>
    public string Image { get; }

    /// <summary>..._space-&lt;template&gt;_desc-preproc_&lt;suffix&gt;.json, written last: its presence marks the subject complete.</summary>
    public string Sidecar { get; }

    /// <summary>..._from-&lt;suffix&gt;_to-&lt;template&gt;_mode-image_xfm.h5: the ITK composite [affine, warp] (input to template).</summary>
    public string Transform { get; }

    /// <summary>..._from-&lt;template&gt;_to-&lt;suffix&gt;_mode-image_xfm.h5: the inverse composite (template to input).</summary>
    public string InverseTransform { get; }

    /// <summary>..._from-&lt;suffix&gt;_to-&lt;template&gt;_mode-image_xfm.json, the RegPS manifest (MapFile), only with the ANTs parts; else null.</summary>
    public string? Manifest { get; }

    /// <summary>The files the manifest names (the affine .mat, and for SyN the forward and inverse warps), only when asked; else empty.</summary>
    public IReadOnlyList<string> TransformParts { get; }

    /// <summary>figures/..._space-&lt;template&gt;_desc-overlay_&lt;suffix&gt;.png, the stereo overlay.</summary>
    public string Overlay { get; }

    /// <summary>figures/..._space-&lt;template&gt;_desc-grid_&lt;suffix&gt;.png, the deformation grid (SyN only, else null).</summary>
    public string? Grid { get; }

    /// <summary>Every output, the sidecar last (the order they are written in).</summary>
    public IReadOnlyList<string> All
    {
        get
        {
            var list = new List<string> { Image, Transform, InverseTransform };
            list.AddRange(TransformParts);
            if (Manifest is not null) list.Add(Manifest);
            list.Add(Overlay);
            if (Grid is not null) list.Add(Grid);
            list.Add(Sidecar);
            return list;
        }
    }

    /// <summary>A path relative to the root, with forward slashes (as BIDS writes paths).</summary>
    public string Relative(string path) => System.IO.Path.GetRelativePath(Root, path).Replace('\\', '/');

    /// <summary>The outputs of <paramref name="name"/> registered to <paramref name="templateName"/> under <paramref name="root"/>.</summary>
    /// <exception cref="ArgumentException">The template name is not a BIDS label (letters and digits).</exception>
    /// <param name="antsParts">Also write the RegPS manifest with separate ANTs parts (affine .mat, warps .nii.gz).</param>
    public static SubjectOutputs For(BidsName name, string root, string templateName, RegistrationMode mode, bool antsParts = false)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentException.ThrowIfNullOrEmpty(root);
        if (!BidsName.IsLabel(templateName))
            throw new ArgumentException($"The template name '{templateName}' must be a BIDS label: letters and digits only, e.g. MNI152NLin2009cAsym.");
        var full = System.IO.Path.GetFullPath(root);
        var subjectDir = System.IO.Path.Combine(full, "sub-" + name.Subject);
        var anat = name.Session is null ? System.IO.Path.Combine(subjectDir, "anat") : System.IO.Path.Combine(subjectDir, "ses-" + name.Session, "anat");
        var figures = System.IO.Path.Combine(subjectDir, "figures");
        // Derivative entities of the input (if any) are replaced, not repeated.
        string[] drop = { "space", "desc", "res", "den", "from", "to", "mode" };
        KeyValuePair<string, string> E(string k, string v) => new(k, v);
        string Named(string desc, string ext) => name.Compose(new[] { E("space", templateName), E("desc", desc) }, name.Suffix, ext, drop);
        var image = System.IO.Path.Combine(anat, Named("preproc", ".nii.gz"));
        var sidecar = System.IO.Path.Combine(anat, Named("preproc", ".json"));
        string Xfm(string from, string to, string ext) => System.IO.Path.Combine(anat, name.Compose(new[] { E("from", from), E("to", to), E("mode", "image") }, "xfm", ext, drop));
        var forward = Xfm(name.Suffix, templateName, ".h5");
        var backward = Xfm(templateName, name.Suffix, ".h5");
        string? manifest = antsParts ? Xfm(name.Suffix, templateName, ".json") : null;
        var parts = Array.Empty<string>();
        if (manifest is not null)
        {
            var (affine, warp, inverse) = MapFile.PartsFor(manifest);
            parts = mode == RegistrationMode.Syn ? new[] { affine, warp, inverse } : new[] { affine };
        }
        var overlay = System.IO.Path.Combine(figures, Named("overlay", ".png"));
        var grid = mode == RegistrationMode.Syn ? System.IO.Path.Combine(figures, Named("grid", ".png")) : null;
        return new SubjectOutputs(full, name, anat, figures, image, sidecar, forward, backward, manifest, parts, overlay, grid);
    }
}
