// placeholder
namespace provaudit::store {}
