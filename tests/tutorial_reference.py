"""An independent re-statement of the TensorFlow tutorial "Neural style transfer"
(tensorflow.org/tutorials/generative/style_transfer), the yardstick of `--preset tutorial`.

It follows the tutorial's code path: tf.io + tf.image.decode_image loading, a Keras VGG19 whose weights
Keras itself loads from a file, a StyleContentModel returning Gram matrices, the tutorial's loss and its
train_step with Adam(0.02, beta_1=0.99, epsilon=0.1) and clipping. The changes: its hard-coded max_dim of
512 is a parameter, VGG16 may replace VGG19 (`network`) (tests run on tiny images), the weights come from a file, and Adam's slots are created
up front so a test can copy the state, and `objective` evaluates the tutorial's loss without a step. Used
by tests/test_tutorial.py, scripts/compare_tutorial.py and scripts/bench.py (the baseline).
"""

import tensorflow as tf


def tutorial_load_img(path, max_dim):
    img = tf.io.read_file(str(path))
    img = tf.image.decode_image(img, channels=3)
    img = tf.image.convert_image_dtype(img, tf.float32)
    shape = tf.cast(tf.shape(img)[:-1], tf.float32)
    long_dim = max(shape)
    scale = max_dim / long_dim
    new_shape = tf.cast(shape * scale, tf.int32)
    img = tf.image.resize(img, new_shape)
    return img[tf.newaxis, :]


def tutorial_gram_matrix(input_tensor):
    result = tf.linalg.einsum("bijc,bijd->bcd", input_tensor, input_tensor)
    input_shape = tf.shape(input_tensor)
    num_locations = tf.cast(input_shape[1] * input_shape[2], tf.float32)
    return result / num_locations


class TutorialStyleContentModel(tf.keras.models.Model):
    def __init__(self, style_layers, content_layers, weights_path, network="vgg19"):
        super().__init__()
        # The tutorial builds VGG19; VGG16 (network="vgg16") is built the same way by its own constructor.
        application = {"vgg19": tf.keras.applications.VGG19, "vgg16": tf.keras.applications.VGG16}[network]
        vgg = application(include_top=False, weights=str(weights_path))
        vgg.trainable = False
        outputs = [vgg.get_layer(name).output for name in style_layers + content_layers]
        self.vgg = tf.keras.Model([vgg.input], outputs)
        self.vgg.trainable = False
        self.style_layers, self.content_layers = style_layers, content_layers
        self.num_style_layers = len(style_layers)

    def call(self, inputs):
        inputs = inputs * 255.0
        preprocessed_input = tf.keras.applications.vgg19.preprocess_input(inputs)
        outputs = self.vgg(preprocessed_input)
        style_outputs = [tutorial_gram_matrix(output) for output in outputs[: self.num_style_layers]]
        content_outputs = outputs[self.num_style_layers:]
        return {"content": dict(zip(self.content_layers, content_outputs)),
                "style": dict(zip(self.style_layers, style_outputs))}


class TutorialRun:
    """The tutorial's optimisation state and train_step, for one content/style pair."""

    def __init__(self, content_path, style_path, weights_path, max_dim, compiled=True, network="vgg19"):
        content_layers = ["block5_conv2"]
        style_layers = ["block1_conv1", "block2_conv1", "block3_conv1", "block4_conv1", "block5_conv1"]
        extractor = TutorialStyleContentModel(style_layers, content_layers, weights_path, network)
        self.content_image = tutorial_load_img(content_path, max_dim)
        style_image = tutorial_load_img(style_path, max_dim)
        style_targets = extractor(style_image)["style"]
        content_targets = extractor(self.content_image)["content"]
        self.image = tf.Variable(self.content_image)
        self.opt = tf.keras.optimizers.Adam(learning_rate=0.02, beta_1=0.99, epsilon=1e-1)
        self.opt.build([self.image])  # the zero slots apply_gradients would create, made now to copy them
        style_weight, content_weight, total_variation_weight = 1e-2, 1e4, 30

        def style_content_loss(outputs):
            style_outputs, content_outputs = outputs["style"], outputs["content"]
            style_loss = tf.add_n([tf.reduce_mean((style_outputs[name] - style_targets[name]) ** 2)
                                   for name in style_outputs.keys()])
            style_loss *= style_weight / len(style_layers)
            content_loss = tf.add_n([tf.reduce_mean((content_outputs[name] - content_targets[name]) ** 2)
                                     for name in content_outputs.keys()])
            content_loss *= content_weight / len(content_layers)
            return style_loss + content_loss

        def objective(image):
            loss = style_content_loss(extractor(image))
            loss += total_variation_weight * tf.image.total_variation(image)
            return loss

        def train_step(image):
            with tf.GradientTape() as tape:
                outputs = extractor(image)
                loss = style_content_loss(outputs)
                loss += total_variation_weight * tf.image.total_variation(image)
            grad = tape.gradient(loss, image)
            self.opt.apply_gradients([(grad, image)])
            image.assign(tf.clip_by_value(image, clip_value_min=0.0, clip_value_max=1.0))
            return loss

        self.train_step = tf.function(train_step) if compiled else train_step
        # The tutorial's loss of any image of the content's size (no step), to judge other optimisers by.
        self.objective = tf.function(objective) if compiled else objective

    def run(self, steps):
        """Runs `steps` steps; returns the loss before each."""
        return [float(self.train_step(self.image)[0]) for _ in range(steps)]
